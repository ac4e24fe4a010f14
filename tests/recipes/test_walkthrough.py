import walkthrough  # recipes/ is on the test path (pyproject.toml)


def test_walkthrough_reproduces_the_target_and_prints_the_tables(capsys):
    results = walkthrough.main(["--seed", "0"])
    printed = capsys.readouterr().out
    assert set(results.values()) == {"I enjoy ML class"}
    assert printed.count("Table 1: encoder hidden states") == 2
    assert printed.count("Table 2: decoder") == 2
    assert printed.count("Attention weights") == 1  # the plain model has none
    for word in ["I", "love", "machine", "learning", "course"]:
        assert f"  {word} " in printed
    # Each attention row lists one weight per source word, summing to 1.
    section = printed.split("Attention weights")[1].split("\n\n")[0]
    rows = section.splitlines()[2:7]  # past the title and the header
    assert [row.split()[1] for row in rows] == ["I", "enjoy", "ML", "class", "<EOS>"]
    for row in rows:
        weights = [float(cell) for cell in row.split()[2:7]]
        assert abs(sum(weights) - 1.0) < 0.02, row
