"""Published numbers that gcnkit's benchmark runs reproduce (Kipf & Welling, ICLR 2017)."""
from typing import Any, Dict, List, Mapping, Optional

#: Table 3 (propagation models; test accuracy in percent, mean of 100 random initializations).
KIPF_TABLE3: Dict[str, Dict[str, float]] = {
    "cheb3": {"citeseer": 69.8, "cora": 79.5, "pubmed": 74.4},
    "cheb2": {"citeseer": 69.6, "cora": 81.2, "pubmed": 73.8},
    "first_order": {"citeseer": 68.3, "cora": 80.0, "pubmed": 77.5},
    "single_parameter": {"citeseer": 69.3, "cora": 79.2, "pubmed": 77.4},
    "kipf": {"citeseer": 70.3, "cora": 81.5, "pubmed": 79.0},
    "first_order_term": {"citeseer": 68.7, "cora": 80.5, "pubmed": 77.8},
    "mlp": {"citeseer": 46.5, "cora": 55.1, "pubmed": 71.4},
}

#: Table 2 (GCN, the renormalization trick) equals Table 3's "kipf" row.
KIPF_TABLE2: Dict[str, float] = dict(KIPF_TABLE3["kipf"])

#: Row labels as the paper words them.
LABELS: Dict[str, str] = {
    "cheb3": "Chebyshev filter K=3",
    "cheb2": "Chebyshev filter K=2",
    "first_order": "1st-order model",
    "single_parameter": "Single parameter",
    "kipf": "Renormalization trick",
    "first_order_term": "1st-order term only",
    "mlp": "Multi-layer perceptron",
    "naive": "Naive A H W",
    "row": "Row normalization D~^-1 A~",
}


def paper_value(model: str, dataset: str) -> Optional[float]:
    return KIPF_TABLE3.get(model, {}).get(dataset.lower())


#: The training options behind the paper's numbers that a run may change (the model is each row's
#: own; device and feature storage change no result).
_PROTOCOL_FIELDS = ("hidden", "num_layers", "dropout", "lr", "weight_decay", "epochs", "early_stopping", "bias")


def protocol_changes(config, dataset_options: Optional[Mapping[str, Any]] = None) -> List[str]:
    """How a :class:`~gcnkit.train.node_classification.TrainConfig` (and options of the datasets,
    such as another split) departs from the protocol the paper's numbers come from, as
    ``["epochs=5", ...]``; empty when it follows it."""
    from gcnkit.train.node_classification import TrainConfig

    paper = TrainConfig()
    changes = [f"{f}={getattr(config, f)!r}" for f in _PROTOCOL_FIELDS if getattr(config, f) != getattr(paper, f)]
    if config.feature_norm == "none":  # "auto" row-normalizes Planetoid's bag-of-words, as "row"
        changes.append("feature_norm='none'")
    changes += [f"{k}={v!r}" for k, v in sorted((dataset_options or {}).items())]
    return changes


def protocol_note(config, dataset_options: Optional[Mapping[str, Any]] = None) -> str:
    """A sentence saying that the paper's values come from another protocol, or ``""``."""
    changes = protocol_changes(config, dataset_options)
    if not changes:
        return ""
    return f"the paper's values are for its own protocol; this run differs: {', '.join(changes)}"
