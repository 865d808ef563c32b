import numpy as np
import pytest

from fedrobust.data.partitioners import PARTITIONERS, PartitionOptions
from fedrobust.errors import ConfigError
from tests.data_helpers import synthetic_dataset

DATASET = synthetic_dataset()
NAMES = ["natural", "iid", "dirichlet", "inner_dirichlet", "powerlaw", "pathological"]


def options(**kwargs) -> PartitionOptions:
    return PartitionOptions(**{"num_clients": 20, "alpha": 0.5, "min_samples": 2, "seed": 3, **kwargs})


@pytest.mark.parametrize("name", NAMES)
def test_every_row_in_exactly_one_client(name):
    clients = PARTITIONERS.get(name)(DATASET, options(alpha=1.5 if name == "powerlaw" else 0.5))
    rows = [r for client_rows in clients.values() for r in client_rows]
    assert sorted(rows) == list(range(len(DATASET)))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_partition(name):
    fn = PARTITIONERS.get(name)
    assert fn(DATASET, options(alpha=1.5 if name == "powerlaw" else 0.5)) == fn(DATASET, options(alpha=1.5 if name == "powerlaw" else 0.5))


@pytest.mark.parametrize("name", ["iid", "dirichlet", "inner_dirichlet", "powerlaw", "pathological"])
def test_other_seed_other_partition(name):
    fn = PARTITIONERS.get(name)
    alpha = 1.5 if name == "powerlaw" else 0.5
    assert fn(DATASET, options(seed=1, alpha=alpha)) != fn(DATASET, options(seed=2, alpha=alpha))


def _mean_majority_share(clients, labels):
    shares = [np.bincount([labels[r] for r in rows], minlength=3).max() / len(rows) for rows in clients.values()]
    return float(np.mean(shares))


def test_dirichlet_small_alpha_is_skewed_large_alpha_is_not():
    labels = DATASET["label"]
    skewed = PARTITIONERS.get("dirichlet")(DATASET, options(num_clients=10, alpha=0.1))
    balanced = PARTITIONERS.get("dirichlet")(DATASET, options(num_clients=10, alpha=1000.0))
    assert _mean_majority_share(skewed, labels) > 0.8
    assert _mean_majority_share(balanced, labels) < 0.5


def test_inner_dirichlet_gives_equal_sizes_and_skews_each_device_where_dirichlet_cannot():
    labels = DATASET["label"]
    many = len(DATASET) // 3  # three texts a device
    with pytest.raises(ConfigError, match="could not give every one"):
        PARTITIONERS.get("dirichlet")(DATASET, options(num_clients=many, alpha=0.3, min_samples=2))
    clients = PARTITIONERS.get("inner_dirichlet")(DATASET, options(num_clients=many, alpha=0.3, min_samples=2))
    sizes = {len(rows) for rows in clients.values()}
    assert len(clients) == many and max(sizes) - min(sizes) <= 1 and min(sizes) >= 3
    skewed = PARTITIONERS.get("inner_dirichlet")(DATASET, options(num_clients=10, alpha=0.1))
    balanced = PARTITIONERS.get("inner_dirichlet")(DATASET, options(num_clients=10, alpha=1000.0))
    assert _mean_majority_share(skewed, labels) > 0.7
    assert _mean_majority_share(balanced, labels) < 0.5
    with pytest.raises(ConfigError, match="below --min-samples 4"):
        PARTITIONERS.get("inner_dirichlet")(DATASET, options(num_clients=len(DATASET) // 3, min_samples=4))


def test_natural_groups_by_owner():
    clients = PARTITIONERS.get("natural")(DATASET, options())
    owners = DATASET["owner"]
    assert all(len({owners[r] for r in rows}) == 1 for rows in clients.values())
    assert set(clients) == set(owners)


def test_natural_without_owner_is_a_clear_error():
    with pytest.raises(ConfigError, match="owner column"):
        PARTITIONERS.get("natural")(DATASET.remove_columns(["owner"]), options())


def test_pathological_limits_classes_per_client():
    clients = PARTITIONERS.get("pathological")(DATASET, options(classes_per_client=1))
    labels = DATASET["label"]
    assert all(len({labels[r] for r in rows}) <= 1 for rows in clients.values() if rows)


def test_powerlaw_sizes_are_heavy_tailed_and_respect_minimum():
    clients = PARTITIONERS.get("powerlaw")(DATASET, options(num_clients=50, alpha=1.0, min_samples=3))
    sizes = sorted((len(rows) for rows in clients.values()), reverse=True)
    assert min(sizes) >= 3
    assert sizes[0] > 4 * np.median(sizes)


def test_unknown_partitioner_lists_known_names():
    with pytest.raises(ConfigError, match="known: dirichlet, iid, inner_dirichlet, natural, pathological, powerlaw"):
        PARTITIONERS.get("random")
