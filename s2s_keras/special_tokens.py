"""Reserved token ids and strings, defined once for the whole library.

Every vocabulary built by `s2s_keras` starts with these four entries, in this
order, so that id 0 is always padding (and masked by every layer), and a model
can start and stop generation without knowing anything else about the
vocabulary.

| id | token   | meaning                                            |
|----|---------|----------------------------------------------------|
| 0  | `<PAD>` | padding; masked out of attention, loss and metrics |
| 1  | `<UNK>` | a word or piece the vocabulary does not hold       |
| 2  | `<BOS>` | first decoder input: "begin the output sentence"   |
| 3  | `<EOS>` | last decoder target: "the output sentence is done" |
"""

PAD = "<PAD>"
UNK = "<UNK>"
BOS = "<BOS>"
EOS = "<EOS>"

RESERVED_TOKENS = (PAD, UNK, BOS, EOS)

PAD_ID = 0
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3
