"""The official GoodMem SDK (goodmem 0.1.43) as a client of the sandbox: same paths and answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import aiohttp
import pytest
from goodmem import Goodmem
from goodmem.errors import AuthenticationError, ConflictError, NotFoundError
from goodmem.models.memory_creation_request import MemoryCreationRequest
from goodmem.models.space_embedder_config import SpaceEmbedderConfig

from importer.models import Chunk, Conversation, Message
from importer.sandbox import SandboxServer
from importer.targets import GoodMemTarget

KEY = "gm_sdk-key"


@pytest.fixture
def server(sandbox_factory: Callable[..., SandboxServer]) -> SandboxServer:
    return sandbox_factory(api_key=KEY)


@pytest.fixture
def client(server: SandboxServer) -> Iterator[Goodmem]:
    with Goodmem(base_url=server.url, api_key=KEY) as sdk:
        yield sdk


def make_space(client: Goodmem, name: str) -> str:
    (embedder,) = client.embedders.list()
    config = SpaceEmbedderConfig(embedder_id=embedder.embedder_id)
    return client.spaces.create(name=name, space_embedders=[config]).space_id


def test_spaces_create_get_list_and_conflict(client: Goodmem) -> None:
    space_id = make_space(client, "sdk space")
    got = client.spaces.get(id=space_id)
    assert (got.name, got.space_embedders[0].default_retrieval_weight) == ("sdk space", 1.0)
    assert got.default_chunking_config is not None  # the SDK's default went through
    make_space(client, "other")

    page = client.spaces.list(name_filter="sdk*")
    assert [s.space_id for s in page] == [space_id]
    assert len(list(client.spaces.list(page_size=1))) == 2  # follows nextToken

    with pytest.raises(ConflictError):
        make_space(client, "sdk space")
    with pytest.raises(NotFoundError):
        client.spaces.get(id="9b0e3a6c-3c59-4b8e-9a51-0d0f0a0b0c0d")


def test_memories_batch_create_get_and_batch_get(client: Goodmem) -> None:
    space_id = make_space(client, "memories")
    created = client.memories.batch_create(
        requests=[
            MemoryCreationRequest(
                space_id=space_id, original_content="first", content_type="text/plain",
                metadata={"n": 1},
            ),
            MemoryCreationRequest(
                space_id=space_id, original_content="second", content_type="text/plain"
            ),
        ]
    )
    assert [r.success for r in created.results] == [True, True]
    first = created.results[0].memory
    assert first is not None and first.processing_status == "PENDING"

    again = client.memories.batch_create(
        requests=[
            MemoryCreationRequest(
                space_id=space_id, original_content="first", content_type="text/plain",
                memory_id=first.memory_id,
            )
        ]
    )
    (duplicate,) = again.results
    assert duplicate.success is False and duplicate.error is not None
    assert (duplicate.error.code, duplicate.error.message.split(":")[0]) == (409, "ALREADY_EXISTS")

    read = client.memories.get(id=first.memory_id, include_content=True)
    assert (read.original_content, read.metadata, read.content_type) == (
        b"first", {"n": 1}, "text/plain",
    )
    got = client.memories.batch_get(memory_ids=[first.memory_id, space_id])
    assert [r.success for r in got.results] == [True, False]
    with pytest.raises(NotFoundError):
        client.memories.get(id=space_id)


def test_a_wrong_key_is_an_authentication_error(server: SandboxServer) -> None:
    with Goodmem(base_url=server.url, api_key="gm_wrong") as sdk, pytest.raises(
        AuthenticationError
    ):
        sdk.spaces.list()


async def test_memories_the_importer_wrote_read_back_through_the_sdk(
    server: SandboxServer, client: Goodmem
) -> None:
    conv = Conversation(
        kind="group",
        conversation_id="team",
        name="Team",
        participants={"a": "Alice"},
        messages=[
            Message(message_id=f"m{i}", timestamp=1_738_404_000_000 + i, sender_id="a",
                    content=f"line {i}")
            for i in range(3)
        ],
    )
    target = GoodMemTarget(server.url, KEY, space_name="imported")
    async with aiohttp.ClientSession() as http:
        target.bind(http)
        await target.add(conv, Chunk(conversation_key=conv.key, index=0, messages=conv.messages))

    (space,) = client.spaces.list(name_filter="imported")
    assert space.labels == {"source": "chat-import"}
    (memory,) = client.memories.list(space_id=space.space_id, include_content=True)
    assert memory.metadata is not None and memory.metadata["message_count"] == 3
    assert memory.original_content is not None
    assert memory.original_content.decode().splitlines()[0] == "# Team"
