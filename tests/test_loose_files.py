"""Who may write a model file: one that another user could change is refused
whole, by its mode bits or its POSIX ACL, and so is a file it brings in.

The tests run as root, which owns every file here: "another user" is
``nobody`` and the group ``nogroup``, named in ACL entries that root may set.
ACLs are written as the kernel stores them (``system.posix_acl_access``), so
no setfacl is needed.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import pytest

from llm_yaml_models import trust

NOBODY = 65534
NOGROUP = 65534
UNDEFINED = 0xFFFFFFFF
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
RW, R = 6, 4

HIJACK = """\
- model_id: gpt-4o
  replace: true
  aliases: [4o-mini]
  backend: {type: markov}
"""


def acl_bytes(*entries: tuple[int, int, int]) -> bytes:
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def granting(*named: tuple[int, int, int], mask: int = RW) -> bytes:
    """An access ACL of owner rw, owning group r, other r, the ``named``
    entries and a mask (entries in the kernel's order: by tag, then id)."""
    entries = [(USER_OBJ, RW, UNDEFINED), *(e for e in named if e[0] == USER)]
    entries += [(GROUP_OBJ, R, UNDEFINED), *(e for e in named if e[0] == GROUP)]
    return acl_bytes(*entries, (MASK, mask, UNDEFINED), (OTHER, R, UNDEFINED))


def set_acl(path: Path, raw: bytes) -> None:
    os.setxattr(path, trust.ACL_XATTR, raw)


def fix(path: Path, who: str) -> str:
    return f"{who} can write to {path}; fix it with: chmod go-w {path}"


def refused(path: Path, why: str) -> str:
    return f"{path}:1:1: refusing the whole file: {why}\n"


def yaml_ids(run_llm) -> list[str]:
    listed = run_llm("models", "list").stdout
    return [line.split(": ", 1)[1] for line in listed.splitlines() if line.startswith("YAML")]


# -- the whole file --------------------------------------------------------------------


def test_a_world_writable_file_is_refused_whole_with_one_line(write, run_llm):
    """Rewritten by another user to take gpt-4o: it declares no key, no
    environment and no code, and is refused all the same."""
    path = write("hijack.yaml", HIJACK)
    path.chmod(0o666)
    result = run_llm("-m", "gpt-4o", "--no-stream", "hi", "--key", "x")
    assert (
        result.stderr.splitlines()[0]
        == f"llm-yaml-models: {refused(path, fix(path, 'any user'))}"[:-1]
    )
    assert yaml_ids(run_llm) == []
    validate = run_llm("yaml-models", "validate")
    assert (validate.exit_code, validate.stdout) == (1, refused(path, fix(path, "any user")))
    assert validate.stderr == "Error: 1 problem (0 models in 1 file usable)\n"


def test_the_warning_is_the_one_line_for_that_file(write, run_llm):
    path = write("hijack.yaml", HIJACK)
    path.chmod(0o646)
    write("good.yaml", "- model_id: good\n  backend: {type: markov}\n")
    result = run_llm("models", "list")
    assert result.stderr == f"llm-yaml-models: {refused(path, fix(path, 'any user'))}"
    assert yaml_ids(run_llm) == ["good"]


def test_an_acl_naming_another_user_makes_the_file_loose(write, run_llm):
    path = write("hijack.yaml", HIJACK)
    set_acl(path, granting((USER, RW, NOBODY)))
    validate = run_llm("yaml-models", "validate")
    assert (validate.exit_code, validate.stdout) == (1, refused(path, fix(path, "user nobody")))
    assert yaml_ids(run_llm) == []


def test_an_acl_naming_a_shared_group_makes_a_directory_above_loose(write, run_llm):
    path = write("sub/hijack.yaml", HIJACK)
    folder = path.parent
    set_acl(folder, granting((GROUP, 7, NOGROUP), mask=7))
    validate = run_llm("yaml-models", "validate", str(path))
    why = fix(folder, f"group {trust._group(NOGROUP)}")
    assert (validate.exit_code, validate.stdout) == (1, refused(path, why))


def test_a_user_private_group_bit_does_not_hide_an_acl(write, run_llm):
    """Mode 664 in a group whose one member is the owner is allowed, as
    before; the same bits as an ACL's mask, over a named user, are not."""
    ours = [g for g in (os.getgid(), *os.getgroups()) if trust._sole_member(g) == os.getuid()]
    assert ours, "no group here has us as its one member"
    path = write("hijack.yaml", HIJACK)
    os.chown(path, -1, ours[0])
    path.chmod(0o664)
    assert run_llm("yaml-models", "validate").exit_code == 0
    set_acl(path, granting((USER, RW, NOBODY)))
    assert stat.S_IMODE(path.stat().st_mode) == 0o664  # the mask shows as the group bits
    validate = run_llm("yaml-models", "validate")
    assert (validate.exit_code, validate.stdout) == (1, refused(path, fix(path, "user nobody")))


def test_the_chmod_it_names_fixes_an_acl(write, run_llm):
    path = write("hijack.yaml", HIJACK)
    set_acl(path, granting((USER, RW, NOBODY), (GROUP, RW, NOGROUP)))
    assert run_llm("yaml-models", "validate").exit_code == 1
    os.system(f"chmod go-w {path}")  # noqa: S605 - the very command the line names
    validate = run_llm("yaml-models", "validate")
    assert (validate.exit_code, validate.stdout) == (0, "OK: 1 model in 1 file, no problems\n")


def test_an_acl_set_on_a_directory_after_caching_is_noticed(write, run_llm, monkeypatch):
    """setfacl changes no mtime, and a directory's ACL no file's ctime: the
    cached verdict must not outlive it."""
    path = write("sub/hijack.yaml", HIJACK.replace("gpt-4o", "mine").replace("4o-mini", "m"))
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(path))
    assert yaml_ids(run_llm) == ["mine (aliases: m)"]
    set_acl(path.parent, granting((USER, 7, NOBODY), mask=7))
    from conftest import reset_plugin_state

    reset_plugin_state()
    result = run_llm("models", "list")
    assert result.stderr == f"llm-yaml-models: {refused(path, fix(path.parent, 'user nobody'))}"
    assert yaml_ids(run_llm) == []


def test_a_cache_file_others_can_write_through_an_acl_is_not_used(write, run_llm, user_dir):
    write("m.yaml", "- model_id: m\n  backend: {type: markov}\n")
    assert yaml_ids(run_llm) == ["m"]
    cache = user_dir / "yaml-models-cache.json"
    set_acl(cache, granting((USER, RW, NOBODY)))
    from conftest import reset_plugin_state

    reset_plugin_state()
    result = run_llm("models", "list")
    assert (
        result.stderr
        == f"llm-yaml-models: not using the cache {cache}: {fix(cache, 'user nobody')}\n"
    )


# -- what a file brings in -----------------------------------------------------------


def test_a_corpus_others_can_write_is_refused_with_its_declaration(write, run_llm):
    corpus = write("corpus.txt", "the cat sat on the mat\n")
    write("m.yaml", "- model_id: told\n  backend: {type: markov, corpus: corpus.txt}\n")
    assert yaml_ids(run_llm) == ["told"]
    set_acl(corpus, granting((GROUP, RW, NOGROUP)))
    validate = run_llm("yaml-models", "validate")
    why = fix(corpus, f"group {trust._group(NOGROUP)}")
    path = corpus.with_name("m.yaml")
    assert (validate.exit_code, validate.stdout) == (
        1,
        f"{path}:2:35: [0].backend.corpus: refusing to read the corpus: {why}\n",
    )
    from conftest import reset_plugin_state

    reset_plugin_state()  # and the cached verdict does not outlive the ACL
    assert yaml_ids(run_llm) == []


# -- the mechanism, on bytes no caller has made ------------------------------------------


def stat_of(mode: int, uid: int = 0, gid: int = 0) -> os.stat_result:
    return os.stat_result((stat.S_IFREG | mode, 0, 0, 1, uid, gid, 0, 0, 0, 0))


def test_acl_entries_reads_the_kernels_format():
    raw = granting((USER, RW, NOBODY), (GROUP, R, NOGROUP))
    assert trust.acl_entries(raw) == [
        (USER_OBJ, RW, UNDEFINED),
        (USER, RW, NOBODY),
        (GROUP_OBJ, R, UNDEFINED),
        (GROUP, R, NOGROUP),
        (MASK, RW, UNDEFINED),
        (OTHER, R, UNDEFINED),
    ]
    assert trust.acl_entries(b"") == []


@pytest.mark.parametrize(
    "raw,message",
    [
        (b"\x02\x00\x00", "an ACL of 3 bytes"),
        (acl_bytes((USER_OBJ, RW, 0))[:-1], "an ACL of 11 bytes"),
        (struct.pack("<I", 1) + struct.pack("<HHI", USER_OBJ, RW, 0), "an ACL of version 1"),
    ],
)
def test_acl_entries_refuses_what_is_not_an_acl(raw, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        trust.acl_entries(raw)


NOT_MINE = [g for g in (NOGROUP,) if trust._sole_member(g) is None]


@pytest.mark.parametrize(
    "mode,acl,who",
    [
        (0o644, [], None),
        (0o646, [], "any user"),
        (0o664, [], f"group {trust._group(NOGROUP)}"),
        # named entries count only within the mask
        (0o664, [(USER, RW, NOBODY)], "user nobody"),
        (0o644, [(USER, RW, NOBODY)], None),
        (0o664, [(GROUP, RW, NOGROUP)], f"group {trust._group(NOGROUP)}"),
        (0o664, [(GROUP, R, NOGROUP), (USER, R, NOBODY)], None),
        # the owner and root may write already
        (0o664, [(USER, RW, 0)], None),
        # a named group of the owner alone is the owner's, as the mode's group is
        (0o664, [(GROUP, RW, 0)], None),
    ],
)
def test_other_writer_reads_the_mode_and_the_acl(mode, acl, who):
    assert trust._sole_member(0) == 0, "root is the one member of group 0 here"
    mask = RW if mode & stat.S_IWGRP else R
    raw = granting(*acl, mask=mask) if acl else b""
    # without an ACL the owning group is NOGROUP, whose write bit means others
    info = stat_of(mode, gid=0 if acl else NOGROUP)
    assert trust.other_writer(info, trust.acl_entries(raw)) == who


def test_an_acl_without_a_mask_is_the_mode():
    three = acl_bytes((USER_OBJ, RW, UNDEFINED), (GROUP_OBJ, RW, UNDEFINED), (OTHER, R, UNDEFINED))
    info = stat_of(0o664, gid=NOGROUP)
    assert trust.other_writer(info, trust.acl_entries(three)) == f"group {trust._group(NOGROUP)}"


# -- a search path entry that names nothing ------------------------------------------------


def test_validate_fails_on_a_search_path_entry_that_does_not_exist(tmp_path, run_llm, monkeypatch):
    gone = tmp_path / "no-such-models"
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(gone))
    validate = run_llm("yaml-models", "validate")
    assert (validate.exit_code, validate.stdout, validate.stderr) == (
        1,
        f"LLM_YAML_MODELS_PATH entry {gone} does not exist\n",
        "Error: 1 problem (0 models in 0 files usable)\n",
    )


def test_every_command_warns_once_about_it(write, models_dir, tmp_path, run_llm, monkeypatch):
    write("m.yaml", "- model_id: m\n  backend: {type: markov}\n")
    gone = tmp_path / "typo.yaml"
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", f"{models_dir}:{gone}")
    result = run_llm("models", "list")
    assert result.stderr == f"llm-yaml-models: LLM_YAML_MODELS_PATH entry {gone} does not exist\n"
    assert yaml_ids(run_llm) == ["m"]
    validate = run_llm("yaml-models", "validate")
    assert (validate.exit_code, validate.stdout) == (
        1,
        f"LLM_YAML_MODELS_PATH entry {gone} does not exist\n",
    )
    assert validate.stderr == "Error: 1 problem (1 model in 1 file usable)\n"
