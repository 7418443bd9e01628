"""A vision-language-action policy trained from scratch (FAST, arXiv 2501.09747; pi0, arXiv 2410.24164):
configuration / modeling / processor as in LeRobot, its LightningModule, data module and closed-loop
evaluation."""

from litlab.robotics.vla.processor import VLAProcessor

__all__ = ["VLAProcessor"]
