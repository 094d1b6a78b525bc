"""ChatGPT-export-shaped data for tests and benchmarks (platform-notes §5); no real exports.

`conversation()` builds one conversation tree whose active branch is the given turns, with a
regenerated (dead) assistant reply hanging off the first user turn so that a reader iterating
`mapping.values()` instead of walking `current_node → parent` gets caught. `export_zip()` packs
conversations into a zip, optionally split into `conversations-NNN.json` shards.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from typing import Any

DEAD_BRANCH_TEXT = "DEAD-BRANCH-REGENERATED-REPLY"


def _message(
    mid: str, role: str, text: str, stamp: float, model: str | None, **extra: Any
) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if model and role == "assistant":
        metadata["model_slug"] = model
    return {
        "id": mid,
        "author": {"role": role, "name": None, "metadata": {}},
        "create_time": stamp,
        "update_time": None,
        "content": {"content_type": "text", "parts": [text]},
        "status": "finished_successfully",
        "end_turn": True if role == "assistant" else None,
        "weight": 1.0,
        "metadata": metadata,
        "recipient": "all",
        **extra,
    }


def conversation(
    cid: str,
    title: str | None,
    create_time: float,
    turns: Sequence[tuple[str, str]],
    model: str = "gpt-4o",
    *,
    dead_branch: bool = True,
) -> dict[str, Any]:
    """One conversation whose active branch is `turns` ((role, text) pairs) in order."""
    mapping: dict[str, Any] = {
        "root": {"id": "root", "message": None, "parent": None, "children": []},
    }
    system = _message(f"{cid}-sys", "system", "", create_time, None)
    system["metadata"]["is_visually_hidden_from_conversation"] = True
    mapping["sys"] = {"id": "sys", "message": system, "parent": "root", "children": []}
    mapping["root"]["children"].append("sys")
    parent = "sys"
    for index, (role, text) in enumerate(turns):
        node_id = f"n{index}"
        mapping[node_id] = {
            "id": node_id,
            "message": _message(f"{cid}-m{index}", role, text, create_time + index, model),
            "parent": parent,
            "children": [],
        }
        mapping[parent]["children"].append(node_id)
        if dead_branch and index == 0 and role == "user":
            mapping["dead"] = {
                "id": "dead",
                "message": _message(
                    f"{cid}-dead", "assistant", DEAD_BRANCH_TEXT, create_time + 0.5, model
                ),
                "parent": node_id,
                "children": [],
            }
            mapping[node_id]["children"].append("dead")
        parent = node_id
    return {
        "id": cid,
        "conversation_id": cid,
        "title": title,
        "create_time": create_time,
        "update_time": create_time + len(turns),
        "current_node": parent,
        "mapping": mapping,
        "default_model_slug": model,
        "is_archived": False,
    }


def export_zip(conversations: Sequence[dict[str, Any]], shards: int = 0) -> bytes:
    """A zip shaped like an export: one `conversations.json`, or `shards` split files."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("user.json", json.dumps({"id": "user-x"}))
        if shards:
            size = -(-len(conversations) // shards)
            for shard in range(shards):
                part = list(conversations[shard * size : (shard + 1) * size])
                archive.writestr(f"conversations-{shard:03d}.json", json.dumps(part))
            archive.writestr("export_manifest.json", json.dumps({"version": 2}))
        else:
            archive.writestr("conversations.json", json.dumps(list(conversations)))
    return out.getvalue()
