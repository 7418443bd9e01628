"""A vision-language-action policy trained from scratch (FAST, arXiv 2501.09747; pi0, arXiv 2410.24164):
configuration / modeling / processor as in LeRobot, its LightningModule, data module and closed-loop
evaluation."""

from litlab.robotics.vla.configuration import VLAConfig
from litlab.robotics.vla.flow import TinyVLAFlow
from litlab.robotics.vla.modeling import TinyVLA
from litlab.robotics.vla.processor import VLAProcessor

__all__ = ["TinyVLA", "TinyVLAFlow", "VLAConfig", "VLAProcessor", "make_policy"]


def make_policy(config: VLAConfig, processor: VLAProcessor, **kwargs):
    """The arm that ``config.head`` names: :class:`TinyVLA` (tokens) or :class:`TinyVLAFlow` (flow)."""
    return (TinyVLA if config.head == "tokens" else TinyVLAFlow)(config, processor, **kwargs)
