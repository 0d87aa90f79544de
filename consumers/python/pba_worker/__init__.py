"""A PyTorch worker for pba's coordinator: `python -m pba_worker --connect tcp://HOST:5555`.

See README "Workers on GPU boxes". A model of your own: subclass `Trainable`."""
from .training import Assignment, Context, Outcome, Trainable, WRNTrainable  # noqa: F401
from .model import WideResNet  # noqa: F401
