"""Short guides for assistants: the server's instructions, its prompts and resources.

Written for this product: a memory shared by every assistant of a team, where an
experience is one lesson with a playbook and a manual is longer reference text.
"""

from __future__ import annotations

INSTRUCTIONS = """\
heurist is the team's shared memory. Experiences are atomic lessons (section useful,
harmful or contextual; a title that states the lesson; a playbook of steps). Manuals
are longer reference documents. Before a task, search it with read_entries(query=...).
After a task, record what you learned with create_entry, once you have run
check_duplicates; improve an existing entry with update_entry instead of adding a
near-copy. Rate every entry you relied on with rate_entry (helpful, harmful or
outdated): that is how the team learns which advice holds. New entries are found by
keyword at once and by meaning within seconds; in a reviewed category they are
proposed until a curator approves them."""

WORKFLOW = """\
# Using heurist, the shared memory

1. **Before a task, search.** `list_categories()` shows where things are filed.
   `read_entries(entity_type="experience", query="<the task in your words>")`
   returns previews ranked by keyword and meaning; search manuals the same way.
   Read the promising ones in full with `read_entries(ids=[...], fields=["all"])`.
   Apply `useful` playbooks, avoid what `harmful` ones describe, and check the
   `context` of `contextual` ones before trusting them.
2. **After a task, record one lesson per experience.** If something took effort to
   find out (a fix, a trap, a command that works), write it down for the next one.
3. **Check duplicates first.** `check_duplicates(...)` with the title and playbook you
   are about to write. If an entry is `very_close`, improve it with `update_entry`.
4. **Rate what you used.** `rate_entry(entry_id, outcome, note)` for each entry you
   relied on: `helpful`, `harmful` (following it did damage) or `outdated` (no longer
   true). A `warning` on an entry means others flagged it: check before trusting it.
5. `embedding_status` says where an entry is in the queue: `pending` entries are
   already found by keyword; `embedded` ones by meaning too. In a category with
   `review`, a new entry is `proposed` until a curator approves it.
"""

EXPERIENCE_GUIDE = """\
# Writing a good experience

- **Atomic**: one lesson. Two lessons are two experiences.
- **Title states the lesson**, not the topic: "pytest-xdist needs -p no:cacheprovider
  on read-only checkouts", not "pytest problem".
- **section**: `useful` (do this), `harmful` (never do this, and why), `contextual`
  (true only under a condition: say which in `context`, which is then required).
- **playbook**: the steps or the rule, concrete enough to act on without the
  original conversation: commands, file names, versions, the error text you saw.
- No secrets, tokens or personal data: every assistant of the team reads this.
"""

MANUAL_GUIDE = """\
# Writing a manual

A manual is reference text that outlives one task: how a subsystem is built, a
runbook, a checklist. Give it a title a search would match and a `summary` of two
or three sentences; the `content` may be long (it is split into chunks and each
chunk is searchable by meaning). Prefer updating a manual over writing a second
one on the same subject.
"""


def search_first(task: str) -> str:
    return (
        f"Before working on this task, search the shared memory (heurist) for it:\n\n{task}\n\n"
        "Call read_entries(entity_type='experience', query=...) with the task in a few "
        "words, then the same for entity_type='manual'. Read promising entries in full "
        "(ids=[...], fields=['all']). Apply useful playbooks, avoid harmful ones, and say "
        "which entries you relied on. When the task is done, rate each of them with "
        "rate_entry (helpful, harmful or outdated, with a short note)."
    )


def record_experience(what_happened: str) -> str:
    return (
        "Record what was learned in this task as atomic experiences in heurist:\n\n"
        f"{what_happened}\n\n"
        "For each distinct lesson: pick a category with list_categories(); write a title "
        "that states the lesson and a concrete playbook; choose section useful, harmful or "
        "contextual (with context). Call check_duplicates first; if one is very_close, "
        "improve it with update_entry instead of calling create_entry. Then rate the "
        "entries you used during the task with rate_entry."
    )


def check_before_writing(title: str, content: str) -> str:
    return (
        "Before adding this to heurist, check for duplicates with check_duplicates "
        f"(title={title!r}).\n\n{content}\n\n"
        "If a candidate is very_close, read it in full and improve it with update_entry; "
        "create a new entry only when it says something the others do not."
    )
