"""seqmodels: recurrent sequence models from small, readable, pluggable pieces.

    text ──Tokenizer──▶ ids [B, T] ──Embedding──▶ x [B, T, E]
         ──Recurrent(cell)──▶ h [B, T, H] ──head──▶ logits [B, T, V]

The public names are re-exported here; everything else is reachable by its
module path.
"""

from seqmodels.cells import GRUCell, LSTMCell, RNNCell
from seqmodels.decoding import SequenceDecoder
from seqmodels.embeddings import Embedding, OneHotEmbedding
from seqmodels.heads import ManyToOne
from seqmodels.layers import Bidirectional, Stacked
from seqmodels.losses import sequence_accuracy, sequence_cross_entropy
from seqmodels.model import SequenceModel
from seqmodels.protocols import (
    Cell,
    LSTMState,
    ProjectedCell,
    SequenceLayer,
    State,
    Tokenizer,
)
from seqmodels.recurrent import Recurrent, Trace
from seqmodels.seq2seq import Encoder, Seq2Seq
from seqmodels.serialization import load_model, save_model
from seqmodels.tokenizers import CharTokenizer, JamoTokenizer, WordTokenizer
from seqmodels.training import (
    Callback,
    Checkpoint,
    EarlyStopping,
    History,
    LRScheduler,
    ProgressBar,
    StopWhenReproduced,
    Trainer,
)
from seqmodels.training.data import SequenceDataset, TokenWindows
from seqmodels.vocabulary import UnknownTokenError, Vocabulary

__version__ = "0.1.0"

__all__ = [
    "Bidirectional",
    "Callback",
    "Cell",
    "CharTokenizer",
    "Checkpoint",
    "EarlyStopping",
    "Embedding",
    "Encoder",
    "GRUCell",
    "History",
    "JamoTokenizer",
    "LRScheduler",
    "LSTMCell",
    "LSTMState",
    "ManyToOne",
    "OneHotEmbedding",
    "ProgressBar",
    "ProjectedCell",
    "RNNCell",
    "Recurrent",
    "Seq2Seq",
    "SequenceDataset",
    "SequenceDecoder",
    "SequenceLayer",
    "SequenceModel",
    "Stacked",
    "State",
    "StopWhenReproduced",
    "TokenWindows",
    "Tokenizer",
    "Trace",
    "Trainer",
    "UnknownTokenError",
    "Vocabulary",
    "WordTokenizer",
    "__version__",
    "load_model",
    "save_model",
    "sequence_accuracy",
    "sequence_cross_entropy",
]
