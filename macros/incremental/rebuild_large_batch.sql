{#- A large delivery rebuilds an incremental model instead of merging into it (issue 19, item 5).

    An incremental run of a model costs about twice per row what a rebuild costs (a scratch table,
    a delete and an insert that maintains every index, then `analyze`), so once the new input is a
    large share of a model's input, rebuilding the model is the cheaper way to the same rows: with
    the NYC and UK feeds (70,818 sales) added to the demo warehouse, the incremental build took
    1.05-1.18x a full rebuild of everything. This project-level `should_full_refresh` (it replaces
    dbt's for every call: `is_incremental()` in a model's SQL and the incremental materialization
    itself) keeps dbt's rules (a model's `full_refresh` config, then --full-refresh) and adds one:
    an incremental model rebuilds when the rows loaded since its previous run into the raw tables
    upstream of it (the ingestion ledger: current file versions, finished after the run recorded
    in dbt_meta.model_runs) are at least `incremental_rebuild_share` (0.5, 0 turns it off) of all
    the rows of those tables' current files. A daily delivery stays incremental; a backfill, a
    new market or a re-delivered history rebuilds what it touches, and models whose inputs did not
    change stay incremental (no work). A rebuild gives the same rows as the merge: every
    incremental model here equals its full build (tests/integration/test_dbt_incremental.py).

    The decision is taken once per model and invocation (memoized on `graph`, like the test
    scope): the compiled SQL (is_incremental) and the materialization must agree, or a merge
    would replace the table with its batch. Offline compiles, unit tests, seeds and snapshots keep
    dbt's rules. Redshift: the same ledger query. -#}
{% macro should_full_refresh() -%}
    {%- set configured = config.get('full_refresh') -%}
    {%- if configured is not none -%}
        {{ return(configured) }}
    {%- endif -%}
    {%- if flags.FULL_REFRESH -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(rebuild_large_batch()) }}
{%- endmacro %}

{% macro rebuild_large_batch() -%}
    {%- if model is not mapping or model.get('resource_type') != 'model'
        or config.get('materialized') != 'incremental' or not can_query_now() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set memo = test_scope_memo() -%}
    {%- set key = 'rebuild:' ~ model.unique_id -%}
    {%- if key not in memo -%}
        {%- set previous = previous_run_at() -%}
        {%- do memo.update({key: previous is not none and large_input_share([model.unique_id], previous)}) -%}
        {%- if memo[key] -%}
            {{ log(model.name ~ ': rebuilt, not merged: the rows loaded since its previous run are at least '
                   ~ var('incremental_rebuild_share', 0.5) ~ ' of its input (var incremental_rebuild_share)', info=true) }}
        {%- endif -%}
    {%- endif -%}
    {{ return(memo[key]) }}
{%- endmacro %}

{#- Whether the raw rows loaded after `since` (a SQL timestamp) into the raw tables upstream of
    `unique_ids` are at least `incremental_rebuild_share` of all the rows of those tables' current
    files (the ingestion ledger; memoized for the invocation). The incremental test scope asks it
    too: a test whose input is mostly new reads everything, unscoped (cheaper than the scope's
    predicates when they keep most rows anyway). -#}
{% macro large_input_share(unique_ids, since) -%}
    {%- set share = var('incremental_rebuild_share', 0.5) -%}
    {%- if not share or since is none or not can_query_now() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set contracts = [] -%}
    {%- for unique_id in test_scope_upstream_sources(unique_ids) -%}
        {%- set source_node = graph.sources.get(unique_id) -%}
        {%- if source_node is not none and source_node.schema == 'raw' -%}
            {%- do contracts.append(source_node.identifier) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set ledger = adapter.get_relation(database=target.database, schema='ingestion_meta', identifier='load_ledger') -%}
    {%- if contracts | length == 0 or ledger is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set contracts = contracts | unique | sort | list -%}
    {%- set memo = test_scope_memo() -%}
    {%- set key = 'large_share:' ~ contracts | join(',') ~ ':' ~ since -%}
    {%- if key not in memo -%}
        {%- set query -%}
            select case
                when sum(rows_loaded) > 0
                    and sum(case when finished_at > {{ since }} then rows_loaded else 0 end) >= {{ share }} * sum(rows_loaded)
                    then 1
                else 0
            end as large
            from {{ ledger }}
            where
                status = 'loaded'
                and superseded_at is null
                and {{ in_values('contract', contracts, "select 'none'") }}
        {%- endset -%}
        {%- do memo.update({key: run_query(query).columns[0].values()[0] == 1}) -%}
    {%- endif -%}
    {{ return(memo[key]) }}
{%- endmacro %}
