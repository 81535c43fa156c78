"""The built-in cells: one time step each, in torch's parameter layout."""

from seqmodels.cells._base import ProjectedCellBase
from seqmodels.cells.gru import GRUCell
from seqmodels.cells.lstm import LSTMCell
from seqmodels.cells.rnn import RNNCell

__all__ = ["GRUCell", "LSTMCell", "ProjectedCellBase", "RNNCell"]
