"""Walkthrough: the seq2seq lesson's running example, end to end.

The lesson maps "I love machine learning course" to "I enjoy ML class" with
2-d word embeddings. This script builds exactly that: an encoder LSTM that
reads the five words (Table 1), a decoder LSTM started from the encoder's
final states that writes one word a step (Table 2), and Luong dot attention
that lets every decoder state s_t look back at all of h_1..h_5 (section 6).

It trains a tiny model on the one pair until it reproduces the target, then
prints the encoder table, the decoder table and the attention weights at
every decoder step; then the same without attention, where the decoder's
only view of the input is h_5 (the bottleneck of section 5).

Run it:

    python recipes/walkthrough.py
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from s2s_keras import build_seq2seq  # noqa: E402
from s2s_keras.special_tokens import BOS  # noqa: E402
from s2s_keras.special_tokens import BOS_ID  # noqa: E402
from s2s_keras.special_tokens import EOS  # noqa: E402
from s2s_keras.special_tokens import EOS_ID  # noqa: E402
from s2s_keras.special_tokens import RESERVED_TOKENS  # noqa: E402

## Configuration

SOURCE = "I love machine learning course"
TARGET = "I enjoy ML class"
# The lesson's 2-d embeddings (section 2), kept frozen during training.
EMBEDDINGS = {
    "I": [0.1, 0.8],
    "love": [0.9, 0.4],
    "machine": [0.6, 0.7],
    "learning": [0.7, 0.6],
    "course": [0.3, 0.2],
}
UNITS = 4  # size of h_t and s_t: small enough to print
MAX_EPOCHS = 1000  # one gradient step per epoch; it stops once it has learned


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--units", type=int, default=UNITS, help="size of the LSTM states h_t, s_t"
    )
    parser.add_argument(
        "--max-epochs",
        type=int,
        default=MAX_EPOCHS,
        help="upper bound on training steps for each model",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    return parser.parse_args(argv)


## Data: one sentence pair, as ids

source_words = SOURCE.split()
target_words = TARGET.split()
source_vocab = [*RESERVED_TOKENS, *source_words]  # ids 0-3 reserved
target_vocab = [*RESERVED_TOKENS, *target_words]


def to_ids(words, vocab):
    return np.array([[vocab.index(word) for word in words]], "int32")


inputs = {
    "source_ids": to_ids(source_words, source_vocab),  # x_1..x_5
    "target_ids": to_ids([BOS, *target_words], target_vocab),  # <BOS>, y_1..y_4
}
labels = to_ids([*target_words, EOS], target_vocab)  # y_1..y_4, <EOS>


## Model


class StopWhenLearned(keras.callbacks.Callback):
    """Stops training once every target word is predicted, confidently."""

    def on_epoch_end(self, epoch, logs=None):
        if logs["accuracy"] == 1.0 and logs["loss"] < 0.05:
            self.model.stop_training = True
            self.epochs = epoch + 1


def train(attention, units, max_epochs):
    model = build_seq2seq(
        source_vocab_size=len(source_vocab),
        target_vocab_size=len(target_vocab),
        embedding_dim=2,
        units=units,
        attention=attention,
    )
    # Freeze the source embeddings to the lesson's table.
    source_embedding = model.get_layer("encoder").embedding
    table = np.zeros((len(source_vocab), 2), "float32")
    for word, vector in EMBEDDINGS.items():
        table[source_vocab.index(word)] = vector
    source_embedding.set_weights([table])
    source_embedding.trainable = False

    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    stopper = StopWhenLearned()
    stopper.epochs = max_epochs
    model.fit(inputs, labels, epochs=max_epochs, verbose=0, callbacks=[stopper])
    return model, stopper.epochs


## Generation, one step at a time (the lesson's Table 2)


def generate(model, max_length=10):
    """Greedy decoding: feed <BOS>, then each predicted word, until <EOS>."""
    encoder = model.get_layer("encoder")
    decoder = model.get_layer("decoder")
    memory, memory_mask, final_states = encoder(inputs["source_ids"])
    state = decoder.get_initial_state(final_states, memory)  # s_0, c_0 = h_5, c_5
    token = np.array([BOS_ID], "int32")
    rows = []
    for t in range(1, max_length + 1):
        logits, state, weights = decoder.step(token, state, memory, memory_mask)
        next_token = int(np.argmax(logits[0]))
        rows.append(
            {
                "t": t,
                "input": target_vocab[int(token[0])],
                "s_t": np.asarray(state[0][0]),  # h of the (single) decoder LSTM
                "output": target_vocab[next_token],
                "weights": None if weights is None else np.asarray(weights[0]),
            }
        )
        if next_token == EOS_ID:
            break
        token = np.array([next_token], "int32")
    return np.asarray(memory[0]), rows


## Printing the lesson's tables


def vector(values):
    return "[" + ", ".join(f"{value:+.2f}" for value in values) + "]"


def print_encoder_table(memory):
    print("Table 1: encoder hidden states, h_t, c_t = LSTM_enc(x_t, h_t-1, c_t-1)")
    print(f"  {'t':>2}  {'input word':<10}  {'embedding x_t':<16}  hidden state h_t")
    for t, word in enumerate(source_words, start=1):
        embedding = vector(EMBEDDINGS[word])
        print(f"  {t:>2}  {word:<10}  {embedding:<16}  {vector(memory[t - 1])}")
    print(f"  context vector without attention = h_{len(source_words)}\n")


def print_decoder_table(rows):
    print("Table 2: decoder, s_t, c_t = LSTM_dec(y_t-1, s_t-1, c_t-1)")
    width = len(vector(rows[0]["s_t"]))
    print(f"  {'t':>2}  {'input':<7}  {'hidden state s_t':<{width}}  output word")
    for row in rows:
        print(
            f"  {row['t']:>2}  {row['input']:<7}  {vector(row['s_t'])}  {row['output']}"
        )
    print()


def print_attention_table(rows):
    print("Attention weights alpha_t,i = softmax_i(s_t . h_i), one row per step")
    width = max(len(word) for word in source_words) + 1
    header = "".join(f"{word:>{width}}" for word in source_words)
    print(f"  {'t':>2}  {'output':<7}{header}   attends most to")
    for row in rows:
        weights = row["weights"]
        cells = "".join(f"{weight:>{width}.2f}" for weight in weights)
        focus = source_words[int(np.argmax(weights))]
        print(f"  {row['t']:>2}  {row['output']:<7}{cells}   {focus}")
    print(
        "  (One training pair can be memorized by the decoder alone, so the\n"
        "  weights need not be sharp here: attention pays off on many, long\n"
        "  inputs, where h_5 alone cannot hold them, section 5.3.)\n"
    )


def sentence(rows):
    return " ".join(row["output"] for row in rows if row["output"] != EOS)


def main(argv=None):
    args = parse_args(argv)
    print(f"Input:  {SOURCE}\nTarget: {TARGET}\n")
    results = {}
    for attention, title in [
        ("dot", "With Luong dot attention"),
        (None, "Without attention"),
    ]:
        keras.utils.set_random_seed(args.seed)
        model, epochs = train(attention, args.units, args.max_epochs)
        memory, rows = generate(model)
        output = sentence(rows)
        results[title] = output
        print(f"=== {title} (trained {epochs} steps) ===\n")
        print_encoder_table(memory)
        print_decoder_table(rows)
        if attention:
            print_attention_table(rows)
        print(f"Output: {output}\n")
    for title, output in results.items():
        verdict = "reproduces the target" if output == TARGET else "does not (yet)"
        print(f"{title}: '{output}' {verdict}")
    return results


if __name__ == "__main__":
    main()
