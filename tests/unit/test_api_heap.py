"""The API moves its start-up heap out of the collector's reach (api/heap.py)."""

import gc

from api.heap import GC_YOUNG_THRESHOLD, settle_heap


def test_settle_heap_freezes_the_start_up_objects_and_collects_young_objects_less_often():
    threshold = gc.get_threshold()
    gc.unfreeze()
    try:
        kept = [object() for _ in range(100)]  # tracked containers would do too; any live object counts
        kept.append({"a": [1, 2]})
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == threshold[1:]
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
