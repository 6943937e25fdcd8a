{#- The model holds at least min_rows rows (returns its row count when it does not), e.g. enough
    training rows for the AVM: feat_avm_sales sets min_rows from var('avm_min_training_rows').
    On an incremental build it passes without reading the model when it passed before and none
    of its inputs changed since (macros/test_scope/test_scope.sql). -#}
{% test row_count_at_least(model, min_rows) %}
{%- if test_scope_unchanged() %}
select 0 as row_count
where 1 = 0
{%- else %}
select count(*) as row_count
from {{ model }}
having count(*) < {{ min_rows }}
{%- endif %}
{% endtest %}
