"""Paradigm 3 — a fusion network instead of a linear blend.

A small neural scorer over [user embedding, item embedding, standardized part scores (CF,
popularity, embedding profile, knowledge graph), "item has no interactions", log history size]:

    h = ReLU(A·user_emb + B·item_emb + C·scalars + b);  score = MLP(h)

The first layer is a sum of a user term, an item term and a scalar term, so a whole user × item
score matrix is computed without materializing the concatenated inputs. No library offers this
model; it is plain torch, trained with the BPR loss (positive vs. sampled negative item).

It is trained on held-out interactions, like the linear hybrid's weights: its CF input must come
from a model that did not see the interactions it learns from (stacking), so the split's
validation part is its training data, with 20% of those users kept aside for early stopping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convrec.ranking.base import Log, UserState, _quiet
from convrec.ranking.hybrid import RANKER_KINDS, HybridRanker, Weights

HIDDEN_UNITS = 64
CHUNK = 128  # users per block when scoring whole matrices


def _torch():  # type: ignore[no-untyped-def]
    import torch

    return torch


def _build_net(emb_dim: int, n_scalars: int, hidden: int = HIDDEN_UNITS):  # type: ignore[no-untyped-def]
    torch = _torch()
    nn = torch.nn

    class FusionNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.user = nn.Linear(emb_dim, hidden, bias=False)
            self.item = nn.Linear(emb_dim, hidden)
            self.scalar = nn.Linear(n_scalars, hidden, bias=False)
            self.head = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, 1))

        def forward(self, u: Any, i: Any, s: Any) -> Any:  # (B,d), (B,d), (B,s) -> (B,)
            return self.head(self.user(u) + self.item(i) + self.scalar(s)).squeeze(-1)

        def grid(self, u: Any, i_proj: Any, s: Any) -> Any:  # (n,d), (m,h), (n,m,s) -> (n,m)
            return self.head(self.user(u)[:, None, :] + i_proj[None, :, :] + self.scalar(s)).squeeze(-1)

    return FusionNet()


class FusionRanker(HybridRanker):
    """A `HybridRanker` whose parts are combined by a small network instead of weights."""

    kind = "fusion"

    def _prepare(self) -> None:
        super()._prepare()
        self.scalar_names = [*self.parts, "unseen", "log_history"]
        self.net_ = None

    # --- features ------------------------------------------------------------------------------

    def _scalars(self, z: dict[str, np.ndarray], history: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
        """(n_users, n_items, n_scalars) inputs from standardized part scores."""
        first = next(iter(z.values()))
        n, m = first.shape
        out = np.empty((n, m, len(self.scalar_names)), np.float32)
        for k, name in enumerate(self.parts):
            out[:, :, k] = z[name]
        unseen = self.unseen_ if items is None else self.unseen_[items]
        out[:, :, len(self.parts)] = unseen[None, :]
        out[:, :, len(self.parts) + 1] = np.log1p(history)[:, None]
        return out

    def _net_scores(self, user_emb: np.ndarray, z: dict[str, np.ndarray], history: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
        torch = _torch()
        assert self.net_ is not None
        item_vec = self.content_.item_vectors_ if items is None else self.content_.item_vectors_[items]
        out = np.empty(next(iter(z.values())).shape, np.float32)
        with torch.no_grad():
            i_proj = self.net_.item(torch.from_numpy(np.ascontiguousarray(item_vec)))
            for start in range(0, len(user_emb), CHUNK):
                sl = slice(start, start + CHUNK)
                s = self._scalars({k: v[sl] for k, v in z.items()}, history[sl], items)
                out[sl] = self.net_.grid(torch.from_numpy(user_emb[sl]), i_proj, torch.from_numpy(s)).numpy()
        return out

    # --- scoring (overrides) -------------------------------------------------------------------

    def combine_matrix(self, rows: np.ndarray, z: dict[str, np.ndarray], weights: Weights) -> np.ndarray:
        user_emb = self.content_.profiles(rows).astype(np.float32)
        history = self.data.train.user_counts()[rows].astype(np.float32)
        return self._net_scores(user_emb, z, history) + weights.unseen * self.unseen_

    def combine_one(self, state: UserState, items: np.ndarray, z: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        weights = self.weights[self.bucket(state.history_size)]
        user_emb = self.content_.profile(state).astype(np.float32)[None, :]
        zz = {k: v[None, :] for k, v in z.items()}
        history = np.array([state.history_size], np.float32)
        fused = self._net_scores(user_emb, zz, history, items)[0]
        return {"fusion": fused, "unseen": weights.unseen * self.unseen_[items]}

    # --- training ------------------------------------------------------------------------------

    def fit_combiner(self, val: Any, cold_tolerance: float = 0.03, log: Log = _quiet, epochs: int = 40) -> dict[str, Any]:
        """Train the network on the validation positives (BPR loss), early-stopped on held-out
        users' NDCG@10; then tune the unseen-item offset like the linear hybrid."""
        from convrec.ranking.fitting import _ndcg, fit_weights

        torch = _torch()
        torch.manual_seed(self.data.seed)
        rng = np.random.default_rng(self.data.seed)
        rows = val.users("warm")
        rng.shuffle(rows)
        n_hold = max(1, len(rows) // 5)
        hold, fit_rows = np.sort(rows[:n_hold]), np.sort(rows[n_hold:])
        z = self.part_matrices(fit_rows)
        user_emb = self.content_.profiles(fit_rows).astype(np.float32)
        history = np.log1p(self.data.train.user_counts()[fit_rows]).astype(np.float32)
        truth = val.warm[fit_rows].tocoo()
        pos_u, pos_i = truth.row.astype(np.int64), truth.col.astype(np.int64)
        n_items = self.data.n_items
        zs = np.stack([z[name] for name in self.parts], axis=-1)  # (users, items, parts)
        item_vec = torch.from_numpy(self.content_.item_vectors_)
        uemb = torch.from_numpy(user_emb)
        unseen = torch.from_numpy(self.unseen_)
        hist = torch.from_numpy(history)
        zs_t = torch.from_numpy(zs)

        def scalars(u: Any, i: Any) -> Any:
            return torch.cat([zs_t[u, i], unseen[i][:, None], hist[u][:, None]], dim=1)

        net = _build_net(item_vec.shape[1], len(self.scalar_names))
        opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-5)
        best_score, best_state, best_epoch, history_log = -1.0, None, 0, []
        batch = 1024
        for epoch in range(1, epochs + 1):
            net.train()
            order = rng.permutation(len(pos_u))
            neg_i = rng.integers(0, n_items, size=len(pos_u))
            for start in range(0, len(order), batch):
                idx = order[start : start + batch]
                u = torch.from_numpy(pos_u[idx])
                ip = torch.from_numpy(pos_i[idx])
                ineg = torch.from_numpy(neg_i[idx])
                sp_ = net(uemb[u], item_vec[ip], scalars(u, ip))
                sn = net(uemb[u], item_vec[ineg], scalars(u, ineg))
                loss = -torch.nn.functional.logsigmoid(sp_ - sn).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            if epoch % 2 == 0 or epoch == epochs:
                net.eval()
                self.net_ = net
                zh = self.part_matrices(hold)
                score = _ndcg(self.combine_matrix(hold, zh, Weights({}, -1000.0)), hold, val)
                history_log.append({"epoch": epoch, "holdout_ndcg_at_10": round(score, 5)})
                if score > best_score + 1e-5:
                    best_score, best_epoch = score, epoch
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                elif epoch - best_epoch >= 8:
                    break
        assert best_state is not None
        net.load_state_dict(best_state)
        net.eval()
        self.net_ = net
        log(f"  fusion network: best held-out NDCG@10 {best_score:.4f} after {best_epoch} epochs")
        report = fit_weights(self, val, cold_tolerance, log=log, learn_parts=False, simulate_short=0)
        report["network"] = {"epochs": best_epoch, "holdout_ndcg_at_10": round(best_score, 5), "curve": history_log}
        return report

    # --- persistence ---------------------------------------------------------------------------

    def _save_extra(self, folder: Path) -> None:
        from safetensors.torch import save_file

        assert self.net_ is not None
        save_file(dict(self.net_.state_dict()), str(folder / "fusion.safetensors"))

    def _load_extra(self, folder: Path) -> None:
        from safetensors.torch import load_file

        net = _build_net(self.content_.item_vectors_.shape[1], len(self.scalar_names))
        net.load_state_dict(load_file(str(folder / "fusion.safetensors")))
        net.eval()
        self.net_ = net

    def adopt_combiner(self, other: HybridRanker) -> None:
        assert isinstance(other, FusionRanker)
        self.net_ = other.net_


RANKER_KINDS["fusion"] = FusionRanker
