"""The table of state documents (ds_monitor.state.DOCUMENTS) is the one list both stores carry."""

from __future__ import annotations

import importlib
import inspect

import pytest

from ds_monitor.state import DOCUMENTS, STATE_FILES, known
from ds_monitor.state.files import StateStore


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d.file)
def test_each_document_names_an_owner_that_knows_its_file(document):
    owner = importlib.import_module(document.owner)
    assert document.file in inspect.getsource(owner)


def test_file_names_are_unique_and_known():
    assert len(set(STATE_FILES)) == len(DOCUMENTS) == 5
    assert all(known(name) == name for name in STATE_FILES)
    with pytest.raises(ValueError, match="unknown state document 'x.json'"):
        known("x.json")


def test_a_snapshot_carries_every_document_of_the_table(tmp_path):
    assert list(StateStore(tmp_path).snapshot()) == list(STATE_FILES)
