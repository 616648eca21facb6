"""The job state machine has no dead ends, and every state a job can be in is one a command acts on."""

from connector.ledger.states import (AMBIGUOUS_JOB_STATES, COLLECTABLE_JOB_STATES, FINAL_JOB_STATES,
                                     JOB_TRANSITIONS, RESUBMITTABLE_JOB_STATES, JobState, PlanCategory,
                                     HELD_CATEGORIES, SENT_CATEGORIES)


def test_every_state_has_a_rule_and_is_reachable():
    assert set(JOB_TRANSITIONS) == set(JobState)
    reachable = {JobState.EXPORTED}
    changed = True
    while changed:
        changed = False
        for to, sources in JOB_TRANSITIONS.items():
            if to not in reachable and sources & reachable:
                reachable.add(to)
                changed = True
    assert reachable == set(JobState)


def test_no_dead_ends():
    """Every non-final state can move on, and some command takes it there: collecting (run / status),
    resolving by hand (ambiguous), or sending its rows again (nothing reached VAN)."""
    for state in set(JobState) - FINAL_JOB_STATES:
        exits = {to for to, sources in JOB_TRANSITIONS.items() if state in sources and to != state}
        assert exits, state
        assert state in COLLECTABLE_JOB_STATES | AMBIGUOUS_JOB_STATES | RESUBMITTABLE_JOB_STATES, state


def test_plan_categories_split_into_sent_and_held():
    assert not SENT_CATEGORIES & HELD_CATEGORIES
    assert SENT_CATEGORIES | HELD_CATEGORIES | {PlanCategory.GONE} == set(PlanCategory)
