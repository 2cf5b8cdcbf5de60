"""The paper's values and the protocol they belong to."""
from gcnkit.train.node_classification import TrainConfig
from gcnkit.train.paper import KIPF_TABLE2, paper_value, protocol_changes, protocol_note


def test_the_whole_of_table_3():
    """Kipf & Welling (2017), Table 3, transcribed row by row as printed (Citeseer, Cora, Pubmed)."""
    from gcnkit.train.paper import KIPF_TABLE3, LABELS

    printed = {
        "Chebyshev filter K=3": (69.8, 79.5, 74.4),
        "Chebyshev filter K=2": (69.6, 81.2, 73.8),
        "1st-order model": (68.3, 80.0, 77.5),
        "Single parameter": (69.3, 79.2, 77.4),
        "Renormalization trick": (70.3, 81.5, 79.0),
        "1st-order term only": (68.7, 80.5, 77.8),
        "Multi-layer perceptron": (46.5, 55.1, 71.4),
    }
    ours = {LABELS[m]: (v["citeseer"], v["cora"], v["pubmed"]) for m, v in KIPF_TABLE3.items()}
    assert ours == printed and all(len(v) == 3 for v in KIPF_TABLE3.values())
    assert KIPF_TABLE2 == {"citeseer": 70.3, "cora": 81.5, "pubmed": 79.0}


def test_paper_values():
    assert paper_value("kipf", "Cora") == 81.5 == KIPF_TABLE2["cora"]
    assert paper_value("cheb3", "citeseer") == 69.8
    assert paper_value("naive", "cora") is None and paper_value("kipf", "karate") is None


def test_protocol_changes_name_what_changes_the_numbers():
    assert protocol_changes(TrainConfig()) == [] and protocol_note(TrainConfig()) == ""
    # the model (each row's own), the device and the feature storage change no number
    same = TrainConfig(model="mlp", feature_norm="row", sparse_features=False)
    assert protocol_changes(same) == []
    changed = TrainConfig(hidden=64, lr=0.005, bias=True, early_stopping=0, feature_norm="none")
    assert protocol_changes(changed) == ["hidden=64", "lr=0.005", "early_stopping=0", "bias=True",
                                         "feature_norm='none'"]
    assert protocol_note(TrainConfig(epochs=3)).endswith("this run differs: epochs=3")
