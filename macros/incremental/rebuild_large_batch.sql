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
    files (the ingestion ledger). The incremental test scope asks it too: a test whose input is
    mostly new reads everything, unscoped (cheaper than the scope's predicates when they keep most
    rows anyway). One ledger query per distinct `since` for the whole invocation (every test that
    passed in the same build shares it): rows per contract, summed here for any set of sources. -#}
{% macro large_input_share(unique_ids, since) -%}
    {%- set share = var('incremental_rebuild_share', 0.5) | float -%}
    {%- if not share or since is none or not can_query_now() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set rows = ledger_rows_since(since) -%}
    {%- set total, new = [0], [0] -%}
    {%- for contract in raw_contracts_upstream(unique_ids) if contract in rows -%}
        {%- do total.append(rows[contract][0]) -%}
        {%- do new.append(rows[contract][1]) -%}
    {%- endfor -%}
    {{ return(total | sum > 0 and new | sum >= share * total | sum) }}
{%- endmacro %}

{#- The raw tables (contracts) upstream of `unique_ids`, memoized per set of ids. -#}
{% macro raw_contracts_upstream(unique_ids) -%}
    {%- set memo = test_scope_memo() -%}
    {%- set key = 'contracts:' ~ unique_ids | sort | join(',') -%}
    {%- if key not in memo -%}
        {%- set contracts = [] -%}
        {%- for unique_id in test_scope_upstream_sources(unique_ids) -%}
            {%- set source_node = graph.sources.get(unique_id) -%}
            {%- if source_node is not none and source_node.schema == 'raw' -%}
                {%- do contracts.append(source_node.identifier) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do memo.update({key: contracts | unique | list}) -%}
    {%- endif -%}
    {{ return(memo[key]) }}
{%- endmacro %}

{#- contract -> (rows of its current files, of those the rows of files loaded after `since`), from
    the ingestion ledger; {} without a ledger. Memoized per `since`. -#}
{% macro ledger_rows_since(since) -%}
    {%- set memo = test_scope_memo() -%}
    {%- set key = 'ledger_rows:' ~ since -%}
    {%- if key not in memo -%}
        {%- set rows = {} -%}
        {%- set ledger = load_ledger_relation() -%}
        {%- if ledger is not none -%}
            {%- set query -%}
                select
                    contract,
                    sum(rows_loaded) as total_rows,
                    sum(case when finished_at > {{ since }} then rows_loaded else 0 end) as new_rows
                from {{ ledger }}
                where status = 'loaded' and superseded_at is null
                group by contract
            {%- endset -%}
            {%- for row in run_query(query).rows -%}
                {%- do rows.update({row[0]: ((row[1] or 0) | int, (row[2] or 0) | int)}) -%}
            {%- endfor -%}
        {%- endif -%}
        {%- do memo.update({key: rows}) -%}
    {%- endif -%}
    {{ return(memo[key]) }}
{%- endmacro %}

{#- The ingestion ledger's relation, or none (looked up once per invocation: its schema is not one
    dbt caches, so every lookup would be a catalog query). -#}
{% macro load_ledger_relation() -%}
    {%- set memo = test_scope_memo() -%}
    {%- if 'ledger' not in memo -%}
        {%- do memo.update({'ledger': adapter.get_relation(database=target.database, schema='ingestion_meta',
                                                            identifier='load_ledger')}) -%}
    {%- endif -%}
    {{ return(memo['ledger']) }}
{%- endmacro %}
