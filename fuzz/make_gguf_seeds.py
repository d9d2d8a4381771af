#!/usr/bin/env python3
"""Writes the seed corpus of the `gguf` fuzz target, fuzz/corpus/gguf/ (small GGUF files).

The seeds are committed; run this again only to change them. Written here from the format
(io/gguf.h) rather than by `dsv3 convert`, whose smallest output holds megabytes of weights:
a seed of a few KiB keeps every mutation cheap.
  valid_*  files the reader accepts: every metadata value type, v2 and v3, alignment, the
           deepseek2 metadata of a tiny MoE model with a byte-level tokenizer (so the config
           and tokenizer mapping is reached), a tensor of each common type;
  bad_*    one broken claim each (magic, version, counts, string length, offsets, overlap).
"""
import os
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR_FORMAT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i",
                 F32: "<f", BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}
GGML_F32, GGML_F16, GGML_Q8_0, GGML_BF16 = 0, 1, 8, 30
# The block types dsv3 decodes: file number -> (elements, bytes) of one block.
GGML_BLOCKS = {2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 10: (256, 84),
               11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 16: (256, 66),
               17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110),
               22: (256, 82), 23: (256, 136), 29: (256, 56)}


def gguf_string(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def value(vtype, v):
    if vtype == STRING:
        return gguf_string(v)
    if vtype == ARRAY:
        etype, items = v
        return struct.pack("<IQ", etype, len(items)) + b"".join(value(etype, x) for x in items)
    return struct.pack(SCALAR_FORMAT[vtype], v)


def gguf_file(kvs, tensors, version=3, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, ggml_type, ne, data bytes)]."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, vtype, v in kvs:
        out += gguf_string(key) + struct.pack("<I", vtype) + value(vtype, v)
    offset = 0
    placed = []
    for name, ggml_type, ne, data in tensors:
        out += gguf_string(name) + struct.pack("<I", len(ne))
        out += b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", ggml_type, offset)
        placed.append((offset, data))
        offset += -(-len(data) // alignment) * alignment
    out += b"\0" * (-len(out) % alignment)
    start = len(out)
    for off, data in placed:
        out += b"\0" * (start + off - len(out)) + data
    return out


def q8_0_block(scale, quants):
    return struct.pack("<e", scale) + struct.pack("<32b", *quants)


def byte_level_alphabet():
    """GPT-2's byte -> printable character table (what byte-level BPE vocabularies spell)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + \
        list(range(0xAE, 0x100))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def tokenizer_kvs():
    alphabet = byte_level_alphabet()
    space = alphabet[ord(" ")]
    merges = [f"{space} t", "h e", f"{space}t he", "i n", "e r"]
    tokens = alphabet + [m.replace(" ", "") for m in merges]
    types = [1] * len(tokens)
    specials = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "[PAD0]"]
    tokens += specials
    types += [3, 3, 4, 5]
    template = ("{% for m in messages %}{% if m['role'] == 'user' %}<｜User｜>{{ m['content'] }}"
                "{% else %}{{ m['content'] }}<｜end▁of▁sentence｜>{% endif %}{% endfor %}")
    return [
        ("tokenizer.ggml.model", STRING, "gpt2"),
        ("tokenizer.ggml.pre", STRING, "deepseek-v3"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
        ("tokenizer.ggml.token_type", ARRAY, (I32, types)),
        ("tokenizer.ggml.merges", ARRAY, (STRING, merges)),
        ("tokenizer.ggml.bos_token_id", U32, len(tokens) - 4),
        ("tokenizer.ggml.eos_token_id", U32, len(tokens) - 3),
        ("tokenizer.ggml.add_bos_token", BOOL, True),
        ("tokenizer.chat_template", STRING, template),
    ]


def deepseek2_kvs(moe=True):
    a = "deepseek2."
    kvs = [
        ("general.architecture", STRING, "deepseek2"),
        (a + "block_count", U32, 3),
        (a + "nextn_predict_layers", U32, 1),
        (a + "context_length", U32, 4096),
        (a + "embedding_length", U32, 32),
        (a + "feed_forward_length", U32, 64),
        (a + "vocab_size", U32, 265),
        (a + "attention.head_count", U32, 2),
        (a + "attention.q_lora_rank", U32, 16),
        (a + "attention.kv_lora_rank", U32, 32),
        (a + "attention.key_length_mla", U32, 24),
        (a + "attention.value_length_mla", U32, 16),
        (a + "attention.layer_norm_rms_epsilon", F32, 1e-6),
        (a + "rope.dimension_count", U32, 8),
        (a + "rope.freq_base", F32, 10000.0),
        (a + "rope.scaling.type", STRING, "yarn"),
        (a + "rope.scaling.factor", F32, 40.0),
        (a + "rope.scaling.original_context_length", U32, 4096),
        (a + "rope.scaling.yarn_log_multiplier", F32, 0.1),
    ]
    if moe:
        kvs += [
            (a + "leading_dense_block_count", U32, 1),
            (a + "expert_count", U32, 4),
            (a + "expert_used_count", U32, 2),
            (a + "expert_shared_count", U32, 1),
            (a + "expert_feed_forward_length", U32, 16),
            (a + "expert_group_count", U32, 2),
            (a + "expert_group_used_count", U32, 1),
            (a + "expert_weights_scale", F32, 2.5),
            (a + "expert_weights_norm", BOOL, True),
            (a + "expert_gating_func", U32, 2),
        ]
    return kvs


def seeds():
    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.0)
    every_type = [
        ("u8", U8, 7), ("i8", I8, -7), ("u16", U16, 700), ("i16", I16, -700),
        ("u32", U32, 70000), ("i32", I32, -70000), ("f32", F32, 1.5), ("bool", BOOL, True),
        ("string", STRING, "text"), ("u64", U64, 1 << 40), ("i64", I64, -(1 << 40)),
        ("f64", F64, 2.25), ("ints", ARRAY, (I32, [1, -2, 3])),
        ("floats", ARRAY, (F32, [0.5, 1.5])), ("strings", ARRAY, (STRING, ["a", "bc", ""])),
        ("bools", ARRAY, (BOOL, [True, False])), ("u64s", ARRAY, (U64, [0, 1 << 63])),
    ]
    yield "valid_every_value_type", gguf_file(every_type, [("t", GGML_F32, [4], f32)])
    yield "valid_v2_aligned_64", gguf_file(
        [("general.alignment", U32, 64)],
        [("a", GGML_F32, [4], f32), ("b", GGML_F16, [2, 2], struct.pack("<4e", 1, 2, 3, 4))],
        version=2, alignment=64)
    yield "valid_q8_0_bf16", gguf_file(
        [("general.architecture", STRING, "deepseek2")],
        [("q", GGML_Q8_0, [32, 2], q8_0_block(0.5, range(32)) + q8_0_block(-1.0, [-1] * 32)),
         ("h", GGML_BF16, [2], b"\x80\x3f\x00\x40")])
    # One block of every decodable block type, of bytes from a fixed pseudo-random sequence
    # (grid and sign indices of the IQ types take many values).
    state = 12345
    def noise(n):
        nonlocal state
        out = bytearray()
        for _ in range(n):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            out.append(state >> 16 & 0xFF)
        return bytes(out)
    yield "valid_every_block_type", gguf_file(
        [], [(f"t{t}", t, [n], noise(b)) for t, (n, b) in GGML_BLOCKS.items()])
    # A tiny V3-style model: sigmoid routing needs a router bias tensor, and a tensor named
    # output.weight says the embeddings are not tied.
    yield "valid_deepseek2_moe_tokenizer", gguf_file(
        deepseek2_kvs() + tokenizer_kvs(),
        [("blk.1.exp_probs_b.bias", GGML_F32, [4], f32), ("output.weight", GGML_F32, [4], f32)])
    yield "valid_deepseek2_dense", gguf_file(
        [kv for kv in deepseek2_kvs(moe=False)
         if "vocab_size" not in kv[0] and "nextn" not in kv[0] and "rope.scaling" not in kv[0]],
        [("token_embd.weight", GGML_F32, [2, 2], f32)])

    good = gguf_file([("k", STRING, "v")], [("a", GGML_F32, [4], f32)])
    yield "bad_magic", b"GGFU" + good[4:]
    yield "bad_version", good[:4] + struct.pack("<I", 4) + good[8:]
    yield "bad_truncated", good[:-9]
    yield "bad_tensor_count", good[:8] + struct.pack("<Q", 1 << 60) + good[16:]
    yield "bad_string_length", gguf_file([("k", STRING, "v")], [])[:24] + \
        struct.pack("<Q", 1 << 40) + b"k" * 16
    yield "bad_offset_past_end", gguf_file([], [("a", GGML_F32, [4], f32)])[:-16]
    two = gguf_file([], [("a", GGML_F32, [4], f32), ("b", GGML_F32, [4], f32)])
    # b's offset (the last 8 bytes of its info, before the padding) made 0, as a's.
    info_end = two.index(b"b", 24) + 1 + 4 + 8 + 4
    yield "bad_overlap", two[:info_end] + struct.pack("<Q", 0) + two[info_end + 8:]
    yield "bad_nested_array", gguf_file([("k", ARRAY, (ARRAY, []))], [])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "gguf")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
