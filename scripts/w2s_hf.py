"""What the Python scripts share about transformers models, so each is written once:
how w2s pools hidden states into features, and how a model is built from a config.

Scripts in scripts/fixtures and scripts/bench import it with
`sys.path.insert(0, str(Path(__file__).resolve().parent.parent))`. (`bench/bench_torch.py` is
carried inside the w2s binary and stands alone: its batch has no padding, so it pools plainly.)
"""

import torch


def pool(hidden, mask, how):
    """w2s's pooling of `hidden` (batch x seq x width) under `mask` (batch x seq, 1 = token):
    `mean` over the real tokens (encoders), `last` real token (decoders; padding on the right),
    else the first token."""
    if how == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
    if how == "last":
        return hidden[torch.arange(hidden.shape[0]), mask.sum(1) - 1]
    return hidden[:, 0]


def model_from_config(config, causal, **kwargs):
    """A randomly initialised transformers model: decoders as causal LMs (as on the hub, so the
    LM head is in the checkpoint w2s reads), encoders as the bare model."""
    import transformers

    cls = transformers.AutoModelForCausalLM if causal else transformers.AutoModel
    return cls.from_config(config, **kwargs)
