import pytest
import tensorflow_datasets as tfds

from s2s_keras.data import load_tfds
from s2s_keras.data.tfds_sets import tfds_fields


@pytest.mark.parametrize(
    "name", ["cnn_dailymail", "gigaword", "xsum", "ted_hrlr_translate/pt_to_en"]
)
def test_known_sets_load_pairs_of_strings(name):
    with tfds.testing.mock_data(num_examples=4):
        pairs = list(load_tfds(name, "train").as_numpy_iterator())
    assert len(pairs) == 4
    assert all(isinstance(side, bytes) for pair in pairs for side in pair)


def test_fields_are_known_or_required():
    assert tfds_fields("ted_hrlr_translate/pt_to_en") == ("pt", "en")
    assert tfds_fields("gigaword:1.2.0") == ("document", "summary")
    with pytest.raises(ValueError, match="does not know the fields.*--source-field"):
        load_tfds("scientific_papers")


def test_wrong_field_lists_the_features():
    with tfds.testing.mock_data(num_examples=2):
        with pytest.raises(
            ValueError, match=r"no feature 'text'.*\['article', 'highlights'"
        ):
            load_tfds("cnn_dailymail", source_field="text", target_field="highlights")
