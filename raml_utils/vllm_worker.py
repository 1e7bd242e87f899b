"""Samples completions with vLLM; run by ``sampling.VLLMSampler`` in the vLLM environment (``.venv-vllm``).

    .venv-vllm/bin/python -m raml_utils.vllm_worker DIR

reads ``DIR/request.json`` (model directory, prompt token ids, n, temperature, max tokens, seed) and writes
``DIR/completions.json``: for every prompt, its n completions as text with special tokens kept and the EOS token
appended when the completion ended on it, the format ``sampling.generate`` returns. Imports vLLM only (this
environment has its own torch and transformers), written against vLLM's documented ``LLM`` / ``SamplingParams`` API.
"""

import json
import sys
from pathlib import Path


def main(folder: str) -> None:
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    request = json.loads((Path(folder) / "request.json").read_text())
    llm = LLM(model=request["model_dir"], dtype="bfloat16", gpu_memory_utilization=request["memory_fraction"],
              seed=request["seed"], enforce_eager=True)  # eager: no CUDA-graph capture, a start of seconds, not minutes
    params = SamplingParams(n=request["n"], temperature=request["temperature"], max_tokens=request["max_tokens"],
                            seed=request["seed"], skip_special_tokens=False,  # top_p = 1, no top-k: plain sampling
                            spaces_between_special_tokens=False)  # decode special tokens as transformers does
    outputs = llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in request["prompt_token_ids"]], params)
    eos = request["eos"]
    # vLLM drops the EOS token from the text; a completion that stopped on it (not at the length limit) gets it back.
    completions = [[o.text + (eos if o.finish_reason == "stop" else "") for o in out.outputs] for out in outputs]
    (Path(folder) / "completions.json").write_text(json.dumps(completions))


if __name__ == "__main__":
    main(sys.argv[1])
