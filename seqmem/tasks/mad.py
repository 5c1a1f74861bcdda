"""mad-lab's synthetic tasks (Poli et al. 2024, arXiv 2403.17844), laid out as its generators lay them out
(athms/mad-lab `mad/data/instances.py`); the defaults are its baseline settings (`configs/tasks/*.yml`).

- `in-context-recall`: key-value pairs; wherever a key comes again, its value is asked (multi-query)
- `noisy-in-context-recall`: the same with pairs of noise tokens among the pairs
- `fuzzy-in-context-recall`: keys and values of one to a few tokens each
- `memorization`: a key-value map fixed across sequences, so learned in the weights
- `compression`: reproduce a sequence once it has been read
- selective copying is `selective-copy --layout mad` (recall.py)

As mad-lab does, the recall tasks train on every next token (its training targets: the inputs shifted) and
score only the values of keys seen before (its test targets; `IGNORE` elsewhere), and every task trains on a
fixed set of `train_size` sequences (its `num_train_examples`; 0 draws fresh ones). mad-lab's multi-query
form is the one offered (its benchmark's). `vocab` is its `vocab_size`: every token, special ones included.

The memoryless baseline is a guess at each scored target given the current input alone, computed on the test
set (`chance_baseline`): where a value's token follows another of the same value, the guess leaves that one out.
"""

from __future__ import annotations

import numpy as np
import torch

from seqmem.config.settings import check_int, parameter_defaults
from seqmem.errors import ConfigError
from seqmem.tasks import register_task
from seqmem.tasks.base import IGNORE, Baseline, Batch, SampledTask


def chance_baseline(batch: Batch, choices) -> Baseline:
    """The memoryless predictor scored on `batch`, given the tokens it guesses among at each target (1 where
    the input gives the answer): mean ln choices, the mean chance 1 / choices, and the mean over sequences of
    the product of the chances at their recall targets."""
    chance = 1 / torch.as_tensor(choices, dtype=torch.float64).expand(batch.y.shape)
    scored = batch.y != IGNORE
    return Baseline(loss=float(-chance[scored].log().mean()), accuracy=float(chance[scored].mean()),
                    recall_accuracy=float(chance[batch.recall].mean()),
                    sequence_accuracy=float(torch.where(batch.recall, chance, 1.0).prod(1).mean()))


def check_noise(noise_vocab: int, frac_noise: float) -> None:
    if not 0 <= frac_noise < 1:
        raise ConfigError(f"frac_noise must be in [0, 1) (mad-lab's bound), got {frac_noise!r}")
    if frac_noise > 0 and noise_vocab == 0:
        raise ConfigError("frac_noise > 0 needs noise tokens: give --noise-vocab N (at least 1)")


def fixed_bytes(cls, params: dict, span) -> int:
    """Inputs, targets and the recall mask of every fixed sequence (training, validation, test)."""
    p = {**parameter_defaults(cls), **params}
    return 17 * (p["train_size"] + p["test_size"] + p["validation_size"]) * span(p)


@register_task("in-context-recall")
class InContextRecall(SampledTask):
    """mad-lab's in-context recall: key-value pairs; a key's value is asked wherever the key comes again.

    `length / 2 - 1` pairs, each key drawn from the key tokens and given a value the first time it comes,
    then a last pair of a key seen before; the model reads all but the last token (`length - 1` steps) and
    answers each key seen before with its value. A pair is two noise tokens instead with chance `frac_noise`.

    Args:
        vocab: tokens in all (mad-lab's vocab_size): keys the first half of those not noise, values the rest
        length: mad-lab's seq_len (even): length / 2 pairs, of which the model reads all but the last token
        noise_vocab: the last tokens of the vocabulary, kept for noise (mad-lab's noise_vocab_size)
        frac_noise: chance that a pair is two noise tokens instead (mad-lab's frac_noise)
        train_size: sequences in the fixed training set (mad-lab's num_train_examples; 0: fresh ones)
        test_size: sequences in the fixed test set (mad-lab's num_test_examples)
        validation_size: sequences in the fixed validation set (what early stopping and the best step read)
        data_seed: seed of the fixed data sets (validation, test, training)
    """

    summary = "mad-lab's in-context recall: key-value pairs, a key's value asked wherever it comes again"

    def __init__(self, vocab: int = 16, length: int = 128, noise_vocab: int = 0, frac_noise: float = 0.0,
                 train_size: int = 12800, test_size: int = 1280, validation_size: int = 1280, data_seed: int = 0):
        self.vocab, self.length = check_int("vocab", vocab, 2), check_int("length", length, 4)
        self.noise_vocab, self.frac_noise = check_int("noise_vocab", noise_vocab, 0), frac_noise
        if length % 2:
            raise ConfigError(f"length must be even (mad-lab's pairs of two tokens), got {length}")
        check_noise(noise_vocab, frac_noise)
        plain = vocab - noise_vocab
        if plain < 2:
            raise ConfigError(f"vocab ({vocab}) must exceed noise_vocab ({noise_vocab}) by 2 or more (a key and a "
                              "value): raise --vocab")
        self.keys, self.values = plain // 2, plain - plain // 2  # keys 0..K-1, values K..plain-1, noise after
        self.vocab_size = self.num_classes = vocab
        self.span = length - 1
        super().__init__(test_size, validation_size, data_seed, train_size)

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        return fixed_bytes(cls, params, lambda p: p["length"])

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("vocab", "length", "noise_vocab", "frac_noise", "train_size",
                                               "test_size", "validation_size", "data_seed")}

    def sequences(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """mad-lab's tokens `(n, length)` and its test targets `(n, length - 1)`, drawn in a vectorised order:
        each key's value drawn up front (the same as at its first coming), the noise chosen per pair."""
        pairs, k = self.length // 2 - 1, self.keys
        keys = torch.randint(0, k, (n, pairs), generator=generator)
        table = k + torch.randint(0, self.values, (n, k), generator=generator)  # (n, K): each key's value
        noise = torch.rand(n, pairs, generator=generator) < self.frac_noise
        guard = torch.randint(0, pairs + 1, (n,), generator=generator)  # mad-lab's not_noise_idx: one pair kept
        noise &= torch.arange(pairs) != guard[:, None]
        noise[noise.all(1), 0] = False  # mad-lab fails here (no key to ask); made a pair instead
        tokens = torch.stack([keys, table.gather(1, keys)], dim=2)
        noisy = self.vocab - self.noise_vocab + torch.randint(0, max(self.noise_vocab, 1), (n, pairs, 2),
                                                              generator=generator)
        tokens = torch.where(noise[..., None], noisy, tokens).reshape(n, 2 * pairs)
        steps = torch.arange(pairs).expand(n, pairs)
        first = torch.full((n, k), pairs).scatter_reduce(1, keys, torch.where(noise, pairs, steps), "amin")
        seen = ~noise & (first.gather(1, keys) < steps)  # (n, pairs): the key came in an earlier pair
        probe = torch.where(first < pairs, torch.rand(n, k, generator=generator), -1.0).argmax(1, keepdim=True)
        tokens = torch.cat([tokens, probe, table.gather(1, probe)], dim=1)  # (n, length)
        y = torch.full((n, self.length - 1), IGNORE)
        y[:, 0:2 * pairs:2] = torch.where(seen, tokens[:, 1:2 * pairs:2], IGNORE)
        y[:, -1] = tokens[:, -1]
        return tokens, y

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        tokens, y = self.sequences(n, generator)
        return Batch(tokens[:, :-1], y, y != IGNORE)

    def draw_train(self, n: int, generator: torch.Generator) -> Batch:
        """mad-lab's training targets: every next token."""
        tokens, y = self.sequences(n, generator)
        return Batch(tokens[:, :-1], tokens[:, 1:], y != IGNORE)

    def baseline(self) -> Baseline:
        """A key alone says nothing of its value: a uniform guess among the values."""
        test = self.fixed["test"]
        return chance_baseline(test, self.values)


@register_task("noisy-in-context-recall")
class NoisyInContextRecall(InContextRecall):
    """mad-lab's noisy in-context recall: in-context recall with a fifth of the pairs noise (its defaults)."""

    summary = "mad-lab's noisy in-context recall: in-context recall with pairs of noise tokens among the pairs"

    def __init__(self, vocab: int = 32, length: int = 128, noise_vocab: int = 16, frac_noise: float = 0.2,
                 train_size: int = 12800, test_size: int = 1280, validation_size: int = 1280, data_seed: int = 0):
        super().__init__(vocab, length, noise_vocab, frac_noise, train_size, test_size, validation_size, data_seed)


@register_task("fuzzy-in-context-recall")
class FuzzyInContextRecall(SampledTask):
    """mad-lab's fuzzy in-context recall: in-context recall with keys and values of several tokens.

    Keys are ordered tuples of distinct key tokens, 1..key_size of them in training and key_size in the
    validation and test sets (as mad-lab prompts its test keys); values likewise of 1..value_size value tokens.
    A probe pair is put at a random place, the pairs run until the sequence is nearly full, the probe is asked
    last, and the sequence is padded at the front to `length`; every value token of a key seen before is asked.
    As in mad-lab, the probe is not always put in before it is asked (its place may lie past the last pair).

    Args:
        vocab: tokens in all (mad-lab's vocab_size): the last pads, keys the first half of the rest, values the others
        length: tokens the model reads (mad-lab's seq_len)
        key_size: most tokens a key (mad-lab's k_motif_size)
        value_size: most tokens a value (mad-lab's v_motif_size)
        train_size: sequences in the fixed training set (mad-lab's num_train_examples; 0: fresh ones)
        test_size: sequences in the fixed test set (mad-lab's num_test_examples)
        validation_size: sequences in the fixed validation set (what early stopping and the best step read)
        data_seed: seed of the fixed data sets (validation, test, training)
    """

    summary = "mad-lab's fuzzy in-context recall: keys and values of several tokens, a value asked when its key returns"

    def __init__(self, vocab: int = 16, length: int = 128, key_size: int = 3, value_size: int = 3,
                 train_size: int = 12800, test_size: int = 1280, validation_size: int = 1280, data_seed: int = 0):
        self.vocab, self.length = check_int("vocab", vocab, 3), check_int("length", length)
        self.key_size, self.value_size = check_int("key_size", key_size), check_int("value_size", value_size)
        self.keys, self.values = (vocab - 1) // 2, vocab - 1 - (vocab - 1) // 2
        self.pad = vocab - 1
        if self.keys < key_size or self.values < value_size:
            raise ConfigError(f"vocab ({vocab}) gives {self.keys} key and {self.values} value tokens; keys of "
                              f"key_size ({key_size}) and values of value_size ({value_size}) need that many "
                              f"distinct tokens: raise --vocab to {2 * max(key_size, value_size) + 1}")
        if length <= 2 * (key_size + value_size):
            raise ConfigError(f"length ({length}) must exceed 2 x (key_size + value_size) = "
                              f"{2 * (key_size + value_size)} (mad-lab's room for the probe): raise --length")
        self.vocab_size = self.num_classes = vocab
        self.span = length
        super().__init__(test_size, validation_size, data_seed, train_size)

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        return fixed_bytes(cls, params, lambda p: p["length"])

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("vocab", "length", "key_size", "value_size", "train_size",
                                               "test_size", "validation_size", "data_seed")}

    @staticmethod
    def motifs(n: int, first: int, tokens: int, most: int, sizes: torch.Tensor, generator) -> torch.Tensor:
        """`(n, most)` ordered tuples of distinct tokens first..first+tokens-1 (each as likely as any: mad-lab's
        `permutations`), row i's first sizes[i] used, -1 after."""
        drawn = first + torch.rand(n, tokens, generator=generator).argsort(dim=1)[:, :most]
        return torch.where(torch.arange(most) < sizes[:, None], drawn, -1)

    @staticmethod
    def sizes(n: int, most: int, generator, fixed: bool = False) -> torch.Tensor:
        return torch.full((n,), most) if fixed else torch.randint(1, most + 1, (n,), generator=generator)

    def sequences(self, n: int, generator: torch.Generator, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """mad-lab's tokens `(n, length + 1)` (padding first) and its test targets, aligned with them.

        All rows step together: at each step every row still short of its end adds one pair (or its probe),
        so each row follows mad-lab's loop."""
        ks, vs, s = self.key_size, self.value_size, self.length
        rows = torch.arange(n)
        key_sizes = self.sizes(n, ks, generator, fixed=not training)
        probe_key = self.motifs(n, 0, self.keys, ks, key_sizes, generator)
        probe_value = self.motifs(n, self.keys, self.values, vs, self.sizes(n, vs, generator), generator)
        probe_length = (probe_key >= 0).sum(1) + (probe_value >= 0).sum(1)
        probe_at = (torch.rand(n, generator=generator) * (s - 2 * probe_length)).long()  # mad-lab's probe_idx
        end = s - probe_length - (ks + vs)  # pairs are added while a row is shorter than this
        width = s + 2 * (ks + vs) + 1
        tokens, targets = torch.full((n, width), self.pad), torch.full((n, width), IGNORE)
        length, added = torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.bool)
        most = s // 2 + 1
        past_keys, past_values = torch.full((n, most, ks), -2), torch.full((n, most, vs), -1)
        for step in range(most):
            active = length < end
            if not active.any():
                break
            key = self.motifs(n, 0, self.keys, ks, self.sizes(n, ks, generator, fixed=not training), generator)
            fresh = self.motifs(n, self.keys, self.values, vs, self.sizes(n, vs, generator), generator)
            put_probe = active & ~added & (length >= probe_at)
            pair = active & ~put_probe
            is_probe = pair & (key == probe_key).all(1)
            match = (past_keys[:, :step] == key[:, None]).all(2)  # (n, step): earlier pairs with this key
            seen = pair & match.any(1)
            earlier = past_values[rows, match.int().argmax(1)] if step else fresh
            value = torch.where(is_probe[:, None], probe_value, torch.where(seen[:, None], earlier, fresh))
            key = torch.where(put_probe[:, None], probe_key, key)
            value = torch.where(put_probe[:, None], probe_value, value)
            added |= put_probe | is_probe
            past_keys[:, step] = torch.where(active[:, None], key, -2)
            past_values[:, step] = value
            asked = torch.where(seen[:, None], value, IGNORE)
            length = self.write(tokens, targets, length, active, key, value, asked)
        length = self.write(tokens, targets, length, torch.ones(n, dtype=torch.bool), probe_key, probe_value,
                            probe_value)
        shift = (torch.arange(s + 1) - (s + 1 - length[:, None]))  # right-align: padding in front
        front = shift < 0
        tokens = torch.where(front, self.pad, tokens.gather(1, shift.clamp_min(0)))
        targets = torch.where(front, IGNORE, targets.gather(1, shift.clamp_min(0)))
        return tokens, targets

    @staticmethod
    def write(tokens, targets, length, active, key, value, asked) -> torch.Tensor:
        """Put each active row's key then value (their -1 slots dropped) at its length; the value's targets
        `asked`. Returns the new lengths."""
        chunk = torch.cat([key, value], dim=1)
        aim = torch.cat([torch.full_like(key, IGNORE), asked], dim=1)
        used = (chunk >= 0) & active[:, None]
        order = (~used).int().argsort(dim=1, stable=True)  # used slots first, in order
        chunk, aim, used = chunk.gather(1, order), aim.gather(1, order), used.gather(1, order)
        spill = tokens.shape[1] - 1  # unused slots land in the last column, never read
        at = torch.where(used, length[:, None] + torch.arange(chunk.shape[1]), spill)
        tokens.scatter_(1, at, chunk)
        targets.scatter_(1, at, aim)
        return length + used.sum(1)

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        tokens, targets = self.sequences(n, generator, training=False)
        y = targets[:, 1:]
        return Batch(tokens[:, :-1], y, y != IGNORE)

    def draw_train(self, n: int, generator: torch.Generator) -> Batch:
        """mad-lab's training sequences (keys of 1..key_size tokens) and targets: every next token."""
        tokens, targets = self.sequences(n, generator, training=True)
        return Batch(tokens[:, :-1], tokens[:, 1:], targets[:, 1:] != IGNORE)

    def baseline(self) -> Baseline:
        """The first token of a value follows a key's token: a guess among the values. A later one follows a
        token of its own value, which it cannot be (a value's tokens are distinct): a guess among the others."""
        test = self.fixed["test"]
        after_value = test.x >= self.keys
        return chance_baseline(test, torch.where(after_value, max(self.values - 1, 1), self.values))


def mad_key_value_map(tokens: int, seed: int) -> torch.Tensor:
    """mad-lab's fixed map (`generate_kv_map`, motifs of one token) as a tensor, key -> value: keys the first
    half of `tokens`, values the rest, each shuffled by NumPy's generator from `seed` (the shuffles mad-lab
    makes of its lists), then paired in order, as many pairs as keys."""
    rng = np.random.default_rng(seed)
    keys, values = rng.permutation(tokens // 2), rng.permutation(np.arange(tokens // 2, tokens))
    table = np.empty(len(keys), dtype=np.int64)
    table[keys] = values[: len(keys)]
    return torch.from_numpy(table)


@register_task("memorization")
class Memorization(SampledTask):
    """mad-lab's memorization: keys each followed by the insert token, whose target is the key's value under a
    map fixed across every sequence, so learned in the weights; the memory asked of the sequence is one step.

    Args:
        vocab: tokens in all (mad-lab's vocab_size): the last is the insert token, keys the first half of the rest
        length: tokens a sequence (mad-lab's seq_len, even): length / 2 keys, each followed by the insert token
        map_seed: seed of the fixed key-value map, drawn as mad-lab draws it (its config's seed, 12345)
        train_size: sequences in the fixed training set (mad-lab's num_train_examples; 0: fresh ones)
        test_size: sequences in the fixed test set (mad-lab's num_test_examples)
        validation_size: sequences in the fixed validation set (what early stopping and the best step read)
        data_seed: seed of the fixed data sets (validation, test, training)
    """

    summary = "mad-lab's memorization: a key-value map fixed across sequences, recalled after each key"

    def __init__(self, vocab: int = 256, length: int = 32, map_seed: int = 12345, train_size: int = 256,
                 test_size: int = 1280, validation_size: int = 1280, data_seed: int = 0):
        self.vocab, self.length = check_int("vocab", vocab, 3), check_int("length", length, 2)
        self.map_seed = check_int("map_seed", map_seed, 0)
        if length % 2:
            raise ConfigError(f"length must be even (a key and the insert token each), got {length}")
        self.table = mad_key_value_map(vocab - 1, map_seed)  # key -> value
        self.insert = vocab - 1
        self.vocab_size = self.num_classes = vocab
        self.span = length
        super().__init__(test_size, validation_size, data_seed, train_size)

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        return fixed_bytes(cls, params, lambda p: p["length"])

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("vocab", "length", "map_seed", "train_size", "test_size",
                                               "validation_size", "data_seed")}

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        keys = torch.randint(0, len(self.table), (n, self.length // 2), generator=generator)
        x = torch.stack([keys, torch.full_like(keys, self.insert)], dim=2).reshape(n, self.length)
        y = torch.stack([torch.full_like(keys, IGNORE), self.table[keys]], dim=2).reshape(n, self.length)
        return Batch(x, y, y != IGNORE)

    def baseline(self) -> Baseline:
        """The insert token alone says nothing of the key before it: a guess among the map's values."""
        test = self.fixed["test"]
        return chance_baseline(test, len(self.table))


@register_task("compression")
class Compression(SampledTask):
    """mad-lab's compression: read `length - 1` random tokens and the compression token, then reproduce them.

    mad-lab encodes the sequence into the compression token's output and decodes every place from it (with the
    place's position) by an MLP. Here the model answers the places in order after the compression token, at
    decode tokens (one token beyond mad-lab's vocabulary); the compression token's own place is scored where
    it is read, as mad-lab scores it. A recurrent model must still hold the sequence in its state; attention
    can read the tokens back, which mad-lab's autoencoder, pooling one vector, does not allow.

    Args:
        vocab: tokens in all (mad-lab's vocab_size): the last is the compression token; the decode token is one more
        length: tokens to reproduce (mad-lab's seq_len), the last the compression token
        train_size: sequences in the fixed training set (mad-lab's num_train_examples; 0: fresh ones)
        test_size: sequences in the fixed test set (mad-lab's num_test_examples)
        validation_size: sequences in the fixed validation set (what early stopping and the best step read)
        data_seed: seed of the fixed data sets (validation, test, training)
    """

    summary = "mad-lab's compression: read random tokens and the compression token, then reproduce them in order"

    def __init__(self, vocab: int = 16, length: int = 32, train_size: int = 12800, test_size: int = 1280,
                 validation_size: int = 1280, data_seed: int = 0):
        self.vocab, self.length = check_int("vocab", vocab, 3), check_int("length", length, 2)
        self.compress, self.decode = vocab - 1, vocab
        self.vocab_size, self.num_classes = vocab + 1, vocab
        self.span = 2 * length - 1
        super().__init__(test_size, validation_size, data_seed, train_size)

    @classmethod
    def data_bytes(cls, params: dict) -> int:
        return fixed_bytes(cls, params, lambda p: 2 * p["length"] - 1)

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("vocab", "length", "train_size", "test_size", "validation_size",
                                               "data_seed")}

    def draw(self, n: int, generator: torch.Generator) -> Batch:
        read = self.length - 1
        tokens = torch.randint(0, self.compress, (n, read), generator=generator)
        x = torch.cat([tokens, torch.full((n, 1), self.compress), torch.full((n, read), self.decode)], dim=1)
        y = torch.cat([torch.full((n, read), IGNORE), torch.full((n, 1), self.compress), tokens], dim=1)
        recall = torch.zeros_like(x, dtype=torch.bool)
        recall[:, self.length:] = True
        return Batch(x, y, recall)

    def show(self, token: int) -> str:
        """Tokens as their ids, the compression token `:`, the decode token `_`."""
        return {self.compress: ":", self.decode: "_"}.get(token, str(token))

    def baseline(self) -> Baseline:
        """The compression token's place is known from its input; every other a guess among vocab - 1 tokens."""
        test = self.fixed["test"]
        return chance_baseline(test, torch.where(test.recall, self.compress, 1))
