"""The paper's values and the protocol they belong to."""
from gcnkit.train.node_classification import TrainConfig
from gcnkit.train.paper import KIPF_TABLE2, paper_value, protocol_changes, protocol_note


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
