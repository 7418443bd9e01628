"""A vision-language-action policy trained from scratch (FAST, arXiv 2501.09747; pi0, arXiv 2410.24164):
configuration / modeling / processor as in LeRobot, its LightningModule, data module and closed-loop
evaluation."""

from litlab.robotics.vla.callbacks import ClosedLoopEval
from litlab.robotics.vla.configuration import VLAConfig
from litlab.robotics.vla.data import VLADataModule
from litlab.robotics.vla.flow import TinyVLAFlow
from litlab.robotics.vla.modeling import TinyVLA, make_policy
from litlab.robotics.vla.module import VLAModule
from litlab.robotics.vla.processor import VLAProcessor

__all__ = ["ClosedLoopEval", "TinyVLA", "TinyVLAFlow", "VLAConfig", "VLADataModule", "VLAModule", "VLAProcessor",
           "make_policy"]
