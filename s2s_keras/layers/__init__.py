"""The seq2seq layers: encoder, Luong attention, decoders with and without it."""

from s2s_keras.layers.attention_decoder import AttentionDecoder
from s2s_keras.layers.copy_decoder import CopyAttentionDecoder
from s2s_keras.layers.decoder import Decoder
from s2s_keras.layers.encoder import Encoder
from s2s_keras.layers.luong_attention import LuongAttention
from s2s_keras.layers.luong_attention import LuongDotAttention
from s2s_keras.layers.luong_attention import masked_softmax
from s2s_keras.layers.tied_readout import TiedReadout

__all__ = [
    "AttentionDecoder",
    "CopyAttentionDecoder",
    "Decoder",
    "Encoder",
    "LuongAttention",
    "LuongDotAttention",
    "TiedReadout",
    "masked_softmax",
]
