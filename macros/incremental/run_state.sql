{#- Incremental machinery shared by the incremental models.

    Two markers on every row of an incremental model:
    - loaded_at: when the raw rows behind it were loaded (lineage; the first model after raw
      reads the raw rows with loaded_at past its watermark, see safe_load_watermark);
    - dbt_updated_at: when this model last (re)computed the row. A downstream model reads the
      upstream rows with dbt_updated_at after its own previous run (updated_since): whatever
      changed them (new rows, corrections, a new assessor roll, re-derived flags), it sees them.
    Each model's previous run is recorded by the post-hook record_model_run
    (dbt_meta.model_runs: the database's clock inside the model's transaction).

    What changed is found once, at compile time, and inlined as literals where the answer is
    small (regions, sources, cutoffs): PostgreSQL then plans the recomputation with real
    selectivity, and "nothing changed" costs nothing (`where 1 = 0`). Offline compiles (Redshift
    CI) and unit tests get the equivalent subquery instead. -#}

{#- True when the query can be run now (a real run, not parsing or an offline compile). -#}
{% macro can_query_now() -%}
    {{ return(execute and not var('offline_compile', false) and model.resource_type != 'unit_test'
              and this is not string) }}
{%- endmacro %}

{#- The first column of `query`'s rows as a list (distinct, sorted), or none when the database
    cannot be asked now. -#}
{% macro compile_time_values(query) -%}
    {%- if not can_query_now() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set values = run_query(query).columns[0].values() | reject('none') | unique | list | sort -%}
    {{ return(values) }}
{%- endmacro %}

{#- A SQL literal for a value of a key column. -#}
{% macro key_literal(value) -%}
    {%- if value is number -%}
        {{ return(value | string) }}
    {%- endif -%}
    {{ return(string_literal(value)) }}
{%- endmacro %}

{#- `expression in (values...)`: `1 = 0` for no values; `expression in (fallback_query)` when the
    values are unknown (offline). -#}
{% macro in_values(expression, values, fallback_query) -%}
    {%- if values is none -%}
        {{ return(expression ~ ' in (' ~ fallback_query ~ ')') }}
    {%- endif -%}
    {%- if values | length == 0 -%}
        {{ return('1 = 0') }}
    {%- endif -%}
    {%- set literals = [] -%}
    {%- for value in values -%}{%- do literals.append(key_literal(value)) -%}{%- endfor -%}
    {{ return(expression ~ ' in (' ~ literals | join(', ') ~ ')') }}
{%- endmacro %}

{#- Pre-hook of a partition-replacing incremental model: delete the partitions about to be
    recomputed; `values_macro` / `query_macro` name the macros giving them (called only on an
    incremental run). Nothing on a full build or when nothing changed. -#}
{% macro delete_partitions(column, values_macro, query_macro, relation=none) -%}
    {%- if not is_incremental() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set values = context[values_macro](relation) if relation is not none else context[values_macro]() -%}
    {%- if values is not none and values | length == 0 -%}
        {{ return('') }}
    {%- endif -%}
    {%- set query = context[query_macro](relation) if relation is not none else context[query_macro]() -%}
    delete from {{ this }} where {{ in_values(column, values, query) }}
{%- endmacro %}

{#- The load watermark of an incremental model: the newest loaded_at it holds (a date far in the
    past when it is empty, so the first incremental run reads everything). -#}
{% macro incremental_watermark(column='loaded_at') -%}
    coalesce(max({{ column }}), cast('1900-01-01' as timestamp with time zone))
{%- endmacro %}

{#- The watermark as SQL for an incremental run's filters. When dbt can ask the database (a real
    run) it is read once and inlined as a literal, so PostgreSQL plans the new-rows scan with real
    selectivity (a handful of rows: index lookups instead of full-table hash joins); offline
    compiles and unit tests get the equivalent scalar subquery. -#}
{% macro load_watermark(column='loaded_at') -%}
    {%- set subquery = '(select ' ~ incremental_watermark(column) ~ ' from ' ~ this ~ ')' -%}
    {%- if not execute or var('offline_compile', false) or this is string
        or model.resource_type == 'unit_test' -%}
        {{ return(subquery) }}
    {%- endif -%}
    {%- set result = run_query('select cast(' ~ incremental_watermark(column) ~ ' as varchar(64)) from ' ~ this) -%}
    {{ return("cast('" ~ result.columns[0].values()[0] ~ "' as timestamp with time zone)") }}
{%- endmacro %}

{#- The newest value of `column` in incremental model `relation` (its watermark) as a literal, or
    as a subquery offline. A table built before the column existed (an upgrade) answers the epoch:
    everything is new once, and on_schema_change adds the column. -#}
{% macro watermark_of(relation, column='loaded_at') -%}
    {%- if not can_query_now() -%}
        {{ return('(select ' ~ incremental_watermark(column) ~ ' from ' ~ relation ~ ')') }}
    {%- endif -%}
    {%- set existing = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {%- if column | lower not in existing -%}
        {{ return("cast('1900-01-01' as timestamp with time zone)") }}
    {%- endif -%}
    {%- set result = run_query('select cast(' ~ incremental_watermark(column) ~ ' as varchar(64)) from ' ~ relation) -%}
    {{ return("cast('" ~ result.columns[0].values()[0] ~ "' as timestamp with time zone)") }}
{%- endmacro %}

{#- When this model's previous run happened (a timestamp literal), or none: no record (a first
    incremental run after an upgrade) means "treat everything as changed". -#}
{% macro previous_run_at() -%}
    {%- if not can_query_now() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set value = previous_model_runs().get(model.unique_id) -%}
    {{ return(none if value is none else "cast('" ~ value ~ "' as timestamp with time zone)") }}
{%- endmacro %}

{#- model id -> when a build before this one last ran it (text), read once per invocation. A model
    asks before its own post-hook records this invocation's run, so leaving this invocation's rows
    out changes no answer. -#}
{% macro previous_model_runs() -%}
    {%- set memo = test_scope_memo() -%}
    {%- if 'previous_runs' not in memo -%}
        {%- set runs = {} -%}
        {%- if adapter.get_relation(database=target.database, schema=test_scope_schema(), identifier='model_runs') -%}
            {%- set query -%}
                select model_id, cast(max(ran_at) as varchar(64))
                from {{ test_scope_table('model_runs') }}
                where invocation_id <> {{ string_literal(invocation_id) }}
                group by model_id
            {%- endset -%}
            {%- for row in run_query(query).rows -%}
                {%- do runs.update({row[0]: row[1]}) -%}
            {%- endfor -%}
        {%- endif -%}
        {%- do memo.update({'previous_runs': runs}) -%}
    {%- endif -%}
    {{ return(memo['previous_runs']) }}
{%- endmacro %}

{#- A predicate on an upstream model's rows: recomputed since this model's previous run. Offline
    it compares with the run recorded in dbt_meta.model_runs (a subquery). -#}
{% macro updated_since_previous_run(column='dbt_updated_at') -%}
    {%- if execute and model.resource_type == 'unit_test' -%}
        {{ return('1 = 0') }}  {#- unit tests exercise the other inputs of an incremental run -#}
    {%- endif -%}
    {%- if not can_query_now() -%}
        {{ return(column ~ " > coalesce((select max(ran_at) from " ~ test_scope_table('model_runs')
                  ~ " where model_id = '" ~ model.unique_id ~ "'), cast('1900-01-01' as timestamp with time zone))") }}
    {%- endif -%}
    {%- set previous = previous_run_at() -%}
    {{ return('1 = 1' if previous is none else column ~ ' > ' ~ previous) }}
{%- endmacro %}

{#- The value stamped on the rows a model writes (dbt_updated_at). -#}
{% macro updated_at_now() -%}
    cast({{ dbt.current_timestamp() }} as timestamp with time zone)
{%- endmacro %}

{#- The watermark of the first model after raw (the newest raw loaded_at it holds), moved back to
    cover loads it may not have seen: a row's loaded_at is its load transaction's start, so a load
    that began before this model's previous run read its input and committed after holds rows at
    or below the plain watermark. Such a load finished after that run (dbt_meta.model_runs) and
    its rows are no older than its start (the ingestion ledger), so the watermark becomes the
    earliest start of a load that finished since then, when that is earlier. Re-reading a few
    processed rows is harmless: their keys are replaced. -#}
{% macro safe_load_watermark(column='loaded_at') -%}
    {%- set watermark = watermark_of(this, column) -%}
    {%- if not can_query_now() -%}
        {{ return(watermark) }}
    {%- endif -%}
    {%- set ledger = load_ledger_relation() -%}
    {%- set previous = previous_run_at() -%}
    {%- if ledger is none -%}
        {{ return(watermark) }}
    {%- endif -%}
    {%- set query -%}
        select cast(min(started_at) as varchar(64))
        from {{ ledger }}
        where
            finished_at > {{ dbt.dateadd('second', -1, previous if previous is not none else watermark) }}
            and started_at <= {{ watermark }}
    {%- endset -%}
    {%- set earliest = run_query(query).columns[0].values()[0] -%}
    {%- if earliest is none -%}
        {{ return(watermark) }}
    {%- endif -%}
    {{ return(dbt.dateadd('second', -1, "cast('" ~ earliest ~ "' as timestamp with time zone)")) }}
{%- endmacro %}

{#- Post-hook of every model and snapshot: this build ran it (previous_run_at, for incremental
    models and snapshots). -#}
{% macro record_model_run() -%}
    {%- if var('offline_compile', false) or not execute or model.resource_type not in ['model', 'snapshot']
        or config.get('materialized') not in ['incremental', 'snapshot'] -%}
        {{ return('') }}
    {%- endif -%}
    delete from {{ test_scope_table('model_runs') }} where model_id = {{ string_literal(model.unique_id) }};
    insert into {{ test_scope_table('model_runs') }} (model_id, invocation_id, ran_at)
    values ({{ string_literal(model.unique_id) }}, {{ string_literal(invocation_id) }}, {{ updated_at_now() }})
{%- endmacro %}

{#- For small models rebuilt whole, but only when an input changed (materialized incremental with
    the pre-hook delete_all_if_rebuilt and `where 1 = 0` when not rebuild_needed()): true on a full
    build, offline, or when a source upstream of this model had a load finish since its previous
    run (test_scope_inputs_changed in macros/test_scope/test_scope.sql). -#}
{% macro rebuild_needed() -%}
    {%- if not is_incremental() or not can_query_now() -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set previous = previous_run_at() -%}
    {%- if previous is none -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(test_scope_inputs_changed(model.depends_on.nodes, dbt.dateadd('second', -1, previous))) }}
{%- endmacro %}

{% macro delete_all_if_rebuilt() -%}
    {%- if is_incremental() and rebuild_needed() -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- Whether incremental model `this` already has `column` (false offline, and for tables built
    before an upgrade added it). -#}
{% macro this_has_column(column) -%}
    {%- if not can_query_now() -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(column | lower in (adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list)) }}
{%- endmacro %}
