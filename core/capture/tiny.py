"""A tiny random Llama with a real (offline-trained) BPE tokenizer and a ChatML template.

Used by the fast test tier and by demos that must not touch a model hub: it exercises every code
path of a real causal LM (chat template, generation, hidden states of every layer) in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_CORPUS = [
    "How do I bake bread at home? Mix flour, water, salt and yeast, then knead and let it rise.",
    "I cannot help with that request because it could cause harm to people.",
    "Sure, here is a short answer to your question about photosynthesis and plants.",
    "<safety_reasoning>The request is benign.</safety_reasoning><answer>Here is how.</answer>",
    "<think>Let me think about whether this is safe.</think> The answer is 42.",
    "Explain how to kill a Python process with the kill command and a signal number.",
    "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9 + - * / = ? ! .",
    "I'm sorry, but I can't assist with instructions for weapons, drugs or hacking.",
]


def build_tiny_model(
    out_dir: str | Path,
    *,
    seed: int = 0,
    n_layers: int = 2,
    d_model: int = 64,
    vocab_size: int = 384,
    silent: bool = False,
) -> Path:
    """Write a random-init LlamaForCausalLM + tokenizer into ``out_dir`` (idempotent) and return it.

    Its greedy answers are visible (random) words; ``silent=True`` builds the broken subject instead: every
    answer is empty (only the end-of-turn token can win), what a steered model with NaN states looks like to
    an audit."""
    out = Path(out_dir)
    if (out / "config.json").is_file() and (out / "tokenizer.json").is_file():
        return out
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
    )
    fast.chat_template = CHATML_TEMPLATE

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=d_model,
        intermediate_size=2 * d_model,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    # Never answer with nothing: whitespace-only and special tokens get an all-zero output row (logit 0, below
    # the best random logit), so greedy text is visible words. An empty answer is the audits' "empty" verdict
    # (a broken subject), which the tests of a working pipeline must not hit.
    with torch.no_grad():
        for tid in range(len(fast)):
            if tid in fast.all_special_ids or not fast.decode([tid]).strip():
                model.lm_head.weight[tid].zero_()
        if silent:  # residual dim 0 is ~100 for every token, and only <|endoftext|> reads it: logit ~80 vs 0,
            # so greedy and sampled answers alike are special tokens only (empty once decoded)
            model.model.embed_tokens.weight[:, 0] = 100.0
            model.model.norm.weight.zero_()
            model.model.norm.weight[0] = 1.0
            model.lm_head.weight.zero_()
            model.lm_head.weight[fast.pad_token_id, 0] = 10.0
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    fast.save_pretrained(out)
    return out
