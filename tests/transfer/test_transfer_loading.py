"""Loading a source network: run directories, state-dict files, and the errors that list
every missing tensor and shape mismatch."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from netrx.errors import NetrxError, RunDirError
from netrx.experiment import prepare
from netrx.experiment.build import build_population, load_transfer_source
from netrx.experiment.rundir import read_source
from netrx.experiment.transfer import resolve
from netrx.nn import build
from netrx.transfer import TransferError, layer_groups

# source (hidden [12, 8], batch norm) -> target (+ dropout): module indices shift by one
# after the first Dropout, the layers match in order
MAP = {"1.weight": "1.weight", "2.weight": "2.weight", "2.bias": "2.bias",
       "2.running_mean": "2.running_mean", "2.running_var": "2.running_var",
       "5.weight": "4.weight", "6.weight": "5.weight", "6.bias": "5.bias",
       "6.running_mean": "5.running_mean", "6.running_var": "5.running_var"}


def _best_state(run_dir):
    best = json.loads((run_dir / "summary.json").read_text())["best_member"]
    return best, {k: v[best] for k, v in load_file(str(run_dir / "weights.safetensors")).items()}


def _transferred(cfg):
    prepared = prepare(cfg)
    cfg = resolve(cfg, prepared)
    pop = build_population(cfg, prepared.input_shape, prepared.n_outputs)
    load_transfer_source(cfg, pop)
    return cfg, pop


def test_run_directory_gives_its_best_member_and_architecture(source_run, make_target):
    best, state = _best_state(source_run.run_dir)
    src = read_source(source_run.run_dir)
    assert src.member == best and src.config is not None
    assert read_source(source_run.run_dir, member=1 - best).member == 1 - best

    cfg, pop = _transferred(make_target(init_from=str(source_run.run_dir)))
    assert cfg.model.hidden == [12, 8] and cfg.model.batch_norm  # from the source run
    assert cfg.model.dropout == 0.1  # the target's own setting
    for k in range(pop.members):
        for name, src_name in MAP.items():
            got = pop.params[name][k] if name in pop.params else pop.buffers[name][k]
            assert torch.equal(got.cpu(), state[src_name]), name
    assert torch.allclose(pop.buffers["4.p"], torch.tensor(0.1))  # dropout rate not copied


def test_state_dict_file_and_safetensors_file(tmp_path, make_target, source_run):
    model = build("mlp", (10,), 4, hidden=[6, 5])
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-1, 1)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(tmp_path / "weights.safetensors"))
    for path in ("weights.pt", "weights.safetensors"):
        cfg = make_target(init_from=str(tmp_path / path))
        cfg.model.hidden, cfg.model.dropout = [6, 5], 0.0  # no config in a state dict
        cfg, pop = _transferred(cfg)
        for name in ("1.weight", "1.bias", "3.weight", "3.bias"):
            assert torch.equal(pop.params[name][2].cpu(), model.state_dict()[name])
        assert pop.params["5.weight"].shape == (3, 3, 5)  # new head: 3 members, 3 classes


def test_missing_tensors_and_shape_mismatches_are_all_listed(tmp_path, make_target):
    state = build("mlp", (10,), 4, hidden=[7, 5]).state_dict()
    del state["3.bias"]
    torch.save(state, tmp_path / "bad.pt")
    cfg = make_target(init_from=str(tmp_path / "bad.pt"))
    cfg.model.hidden, cfg.model.dropout = [6, 5], 0.0
    with pytest.raises(TransferError) as e:
        _transferred(cfg)
    msg = str(e.value)
    assert "missing in the source (1): '3.bias'" in msg
    assert "shape mismatches (3)" in msg
    assert "'1.weight' is [6, 10] in the model but the source's '1.weight' is [7, 10]" in msg
    assert "'1.bias' is [6]" in msg and "'3.weight' is [5, 6]" in msg
    assert "The source holds: 1.weight, 1.bias, 3.weight" in msg
    assert isinstance(e.value, NetrxError)


def test_depth_mismatch_and_bad_files(tmp_path, make_target):
    torch.save(build("mlp", (10,), 4, hidden=[6]).state_dict(), tmp_path / "shallow.pt")
    cfg = make_target(init_from=str(tmp_path / "shallow.pt"))
    cfg.model.hidden = [6, 5]
    with pytest.raises(TransferError, match="the source has 2 layers and the model 3"):
        _transferred(cfg)

    torch.save(nn.Linear(2, 2), tmp_path / "module.pt")  # a pickled module, not weights
    with pytest.raises(TransferError, match=r"weights_only=True.*model.state_dict\(\)"):
        read_source(tmp_path / "module.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(TransferError, match="not a state dict"):
        read_source(tmp_path / "list.pt")
    with pytest.raises(TransferError, match="does not exist"):
        read_source(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.yaml").write_text("seed: 0\n")
    with pytest.raises(RunDirError, match="missing weights.safetensors, summary.json"):
        read_source(tmp_path / "half")


def test_layer_groups_put_batch_norm_with_the_layer_before():
    model = build("mlp", (10,), 3, hidden=[4, 4], batch_norm=True, dropout=0.2)
    groups = layer_groups(model)
    assert [g.modules for g in groups] == [("1", "2"), ("5", "6"), ("9",)]
    assert groups[0].params == ("1.weight", "2.weight", "2.bias")
    cnn = layer_groups(build("cnn1d", (40,), 5, channels=4, batch_norm=True))
    assert len(cnn) == 4 and all(len(g.modules) == 2 for g in cnn[:3])
