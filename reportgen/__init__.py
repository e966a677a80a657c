"""reportgen: one standalone HTML report that explains a neural network's weights."""
from ._version import __version__
from .api import analyze, generate_report, load
from .config import Config
from .errors import InputError
from .recorder import TrainingRecorder
from .types import Analysis, ModelSpec, ModelWeights, TensorRecord

__all__ = ["__version__", "analyze", "generate_report", "load", "Config", "InputError",
           "Analysis", "ModelSpec", "ModelWeights", "TensorRecord", "TrainingRecorder"]
