{#- Incremental test scope: a daily build tests what is new, not the whole history again.

    A data test on a large relation re-reads all of it on every build: at a million sales that is
    most of a one-day incremental build. So, when a build is not a full refresh, tests that
    passed before look only at what changed since:

    - Row-level generic tests (not_null, accepted_values, accepted_range, expression_is_true,
      dated_before, relationships: the child side) of relations that declare a lineage column
      (sources: their freshness loaded_at_field; models: meta.test_scope_column, e.g. loaded_at)
      check the rows with
          <lineage column> > <start of the build in which this test last passed, or the start of
                              the earliest load that committed after it, if earlier>
      The second part matters: a row's loaded_at is its load transaction's start, so a load that
      began before that build and committed after it holds rows with older timestamps that the
      build could not see; the ingestion ledger (started_at, finished_at) says which.
      primary_key checks every row whose key occurs among the new rows (a new duplicate of an
      old key is caught); mutually_exclusive_ranges the partitions holding new rows, each whole;
      equal_rowcount scopes both sides with their own lineage columns or neither.
    - When no input of the test changed at all since that boundary (no load of any source
      upstream of it finished, and no upstream raw row is newer), its answer cannot have changed:
      row-level tests read nothing (`1 = 0`), and tests about the whole relation (not_empty,
      row_count_at_least) pass without reading it.
    - Such a test, which would read nothing, does not even run its query: the project's test
      materialization (test_materialization.sql) records the result of its thresholds over no rows.
    - A test that never passed, --full-refresh, --vars '{test_scope: full}' (the weekly
      schedule) and offline compiles test everything, as does recency (it depends on the clock).
      Scoping trusts that a row's content changes only when new input arrives: after changing a
      model's code, build it with --full-refresh (or test_scope: full) once.

    Passes are recorded by the on-run-end hook in <dbt_meta>.test_passes (one row per test), with
    the database's clock at the build's start from on-run-start (<dbt_meta>.build_runs). -#}

{% macro test_scope_schema() -%}
    {{ return(generate_schema_name('dbt_meta', none) | trim) }}
{%- endmacro %}

{% macro test_scope_table(name) -%}
    {{ return(api.Relation.create(database=target.database, schema=test_scope_schema(), identifier=name)) }}
{%- endmacro %}

{#- Generic tests that may look at the new rows only. -#}
{% macro test_scope_row_level_tests() -%}
    {{ return(['not_null', 'accepted_values', 'accepted_range', 'expression_is_true', 'dated_before',
               'relationships', 'primary_key', 'unique', 'equal_rowcount', 'mutually_exclusive_ranges']) }}
{%- endmacro %}

{#- on-run-start: the bookkeeping tables, and this build's start on the database's clock. -#}
{% macro test_scope_start() -%}
    {%- if var('offline_compile', false) -%}
        {{ return('select 1') }}
    {%- endif -%}
    {#- the admin creates dbt_meta (`terraminer roles`); dbt (the transformer) creates it only where it may -#}
    {%- if not adapter.check_schema_exists(target.database, test_scope_schema()) %}
    create schema if not exists {{ adapter.quote(test_scope_schema()) }};
    {%- endif %}
    create table if not exists {{ test_scope_table('build_runs') }} (
        invocation_id varchar(64) not null,
        started_at timestamp with time zone not null
    );
    create table if not exists {{ test_scope_table('test_passes') }} (
        test_id varchar(512) not null,
        invocation_id varchar(64) not null,
        signature varchar(32) not null
    );
    create table if not exists {{ test_scope_table('model_runs') }} (
        model_id varchar(512) not null,
        invocation_id varchar(64) not null,
        ran_at timestamp with time zone not null
    );
    insert into {{ test_scope_table('build_runs') }} (invocation_id, started_at)
    values ({{ string_literal(invocation_id) }}, current_timestamp)
    {%- do test_scope_prefill() %}
{%- endmacro %}

{#- on-run-end: remember which tests passed in this build (and forget builds nobody needs). -#}
{% macro test_scope_record(results) -%}
    {%- if var('offline_compile', false) or not execute -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set passed = [] -%}
    {%- set signatures = {} -%}
    {%- for result in results -%}
        {%- if result.node.resource_type == 'test' and result.status == 'pass' -%}
            {%- do passed.append(result.node.unique_id) -%}
            {%- do signatures.update({result.node.unique_id: test_scope_signature(graph.nodes[result.node.unique_id])}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if passed | length == 0 -%}
        {{ return('select 1') }}
    {%- endif -%}
    delete from {{ test_scope_table('test_passes') }}
    where test_id in (
        {%- for test_id in passed %}
        {{ string_literal(test_id) }}{{ ',' if not loop.last }}
        {%- endfor %}
    );
    insert into {{ test_scope_table('test_passes') }} (test_id, invocation_id, signature)
    values
    {%- for test_id in passed %}
        ({{ string_literal(test_id) }}, {{ string_literal(invocation_id) }}, {{ string_literal(signatures[test_id]) }}){{ ',' if not loop.last }}
    {%- endfor %};
    delete from {{ test_scope_table('build_runs') }}
    where
        invocation_id != {{ string_literal(invocation_id) }}
        and invocation_id not in (select invocation_id from {{ test_scope_table('test_passes') }})
        and invocation_id not in (select invocation_id from {{ test_scope_table('model_runs') }})
{%- endmacro %}

{% macro test_scope_test_name() -%}
    {{ return((model.get('test_metadata') or {}).get('name') if model is mapping else none) }}
{%- endmacro %}

{#- The graph node (model, seed, snapshot or source) behind `relation` among the current test's
    dependencies, or none. -#}
{% macro test_scope_node(relation) -%}
    {%- if not execute or model is not mapping or relation is string or relation is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for unique_id in model.get('depends_on', {}).get('nodes', []) -%}
        {%- set node = graph.sources.get(unique_id) if unique_id.startswith('source.') else graph.nodes.get(unique_id) -%}
        {%- if node is not none
            and (node.get('alias') or node.get('identifier') or node.get('name')) | lower == relation.identifier | lower
            and node.get('schema') | lower == relation.schema | lower -%}
            {{ return(node) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{#- The node the current generic test is attached to (a model, or the source it tests). -#}
{% macro test_scope_tested_node() -%}
    {%- if not execute or model is not mapping -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set attached = model.get('attached_node') -%}
    {%- if attached -%}
        {{ return(graph.nodes.get(attached)) }}
    {%- endif -%}
    {%- set sources = [] -%}
    {%- for unique_id in model.get('depends_on', {}).get('nodes', []) -%}
        {%- if unique_id.startswith('source.') -%}{%- do sources.append(unique_id) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(graph.sources.get(sources[0]) if sources | length == 1 else none) }}
{%- endmacro %}

{#- The lineage column of a node: a source's loaded_at_field, a model's meta.test_scope_column. -#}
{% macro test_scope_column(node) -%}
    {%- if node is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if node.resource_type == 'source' -%}
        {{ return(node.get('loaded_at_field')) }}
    {%- endif -%}
    {%- set meta = node.get('config', {}).get('meta', {}) or node.get('meta', {}) -%}
    {{ return(meta.get('test_scope_column')) }}
{%- endmacro %}

{#- An invocation-wide memo for what every test asks of the bookkeeping tables and of the graph
    (recorded passes, which inputs changed, a node's ancestors): a dict kept on `graph`, the one
    object all nodes of a dbt invocation share, under this invocation's id. Without it each of
    ~400 tests ran its own bookkeeping queries and graph walks, which was most of an incremental
    build's test time. -#}
{% macro test_scope_memo() -%}
    {%- set key = '_terraminer_test_scope_' ~ invocation_id -%}
    {%- if key not in graph -%}
        {%- do graph.update({key: {}}) -%}
    {%- endif -%}
    {{ return(graph[key]) }}
{%- endmacro %}

{#- The boundary for the current test as a SQL timestamp literal, or none (test everything). -#}
{% macro test_scope_boundary() -%}
    {%- if not execute or var('offline_compile', false) or var('test_scope', 'incremental') == 'full'
        or flags.FULL_REFRESH or model is not mapping or model.get('resource_type') != 'test' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set memo = test_scope_memo() -%}
    {%- set key = 'boundary:' ~ model.unique_id -%}
    {%- if key not in memo -%}
        {%- do memo.update({key: test_scope_boundary_of_test()}) -%}
    {%- endif -%}
    {{ return(memo[key]) }}
{%- endmacro %}

{% macro test_scope_boundary_of_test() -%}
    {%- set memo = test_scope_memo() -%}
    {%- if 'passes' not in memo -%}
        {%- do memo.update({'passes': test_scope_recorded_passes()}) -%}
    {%- endif -%}
    {%- set recorded = memo['passes'].get(model.unique_id) -%}
    {%- if recorded is none or recorded[1] is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set boundary = test_scope_boundary_sql(recorded[1]) -%}
    {#- most of the input is new (a backfill, a new market): the scope would keep most rows at the
        price of its predicates; read everything (macros/incremental/rebuild_large_batch.sql) -#}
    {%- if large_input_share(model.depends_on.nodes, boundary) or recorded[0] != test_scope_signature(model) -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(boundary) }}
{%- endmacro %}

{#- A recorded boundary (text) as a SQL timestamp. -#}
{% macro test_scope_boundary_sql(text) -%}
    {{ return("cast('" ~ text ~ "' as timestamp with time zone)") }}
{%- endmacro %}

{#- The on-run-start hook (one thread, before any node) reads what every node's bookkeeping asks
    first: the recorded passes, the ledger's rows since each of their boundaries, every model's
    previous run. Otherwise the first nodes, which start together on every thread, each ran the same
    queries and walked the same answers while the others waited for the GIL. -#}
{% macro test_scope_prefill() -%}
    {%- if not execute or var('offline_compile', false) or var('test_scope', 'incremental') == 'full'
        or flags.FULL_REFRESH -%}
        {{ return('') }}
    {%- endif -%}
    {%- set memo = test_scope_memo() -%}
    {%- do memo.update({'passes': test_scope_recorded_passes()}) -%}
    {%- set boundaries = [] -%}
    {%- for recorded in memo['passes'].values() if recorded[1] is not none -%}
        {%- do boundaries.append(recorded[1]) -%}
    {%- endfor -%}
    {%- for boundary in boundaries | unique -%}
        {%- do ledger_rows_since(test_scope_boundary_sql(boundary)) -%}
    {%- endfor -%}
    {%- do previous_model_runs() -%}
    {{ return('') }}
{%- endmacro %}

{#- Every recorded pass: test id -> (signature, boundary as text). A test's boundary is the start of
    the build in which it last passed, or the start of the earliest load that committed after that
    start if it began before it (its rows carry older loaded_at values), minus a second. -#}
{% macro test_scope_recorded_passes() -%}
    {%- set passes = adapter.get_relation(database=target.database, schema=test_scope_schema(),
                                          identifier='test_passes') -%}
    {%- if passes is none -%}
        {{ return({}) }}
    {%- endif -%}
    {%- set ledger = load_ledger_relation() -%}
    {%- set query -%}
        with

        runs as (

            select
                runs.invocation_id,
                {{ dbt.dateadd('second', -1,
                    'case when min(ledger.started_at) < runs.started_at then min(ledger.started_at) else runs.started_at end'
                    if ledger else 'runs.started_at') }} as boundary
            from {{ test_scope_table('build_runs') }} as runs
            {%- if ledger %}
            left join {{ ledger }} as ledger
                on ledger.finished_at > {{ dbt.dateadd('second', -1, 'runs.started_at') }}
            {%- endif %}
            group by runs.invocation_id, runs.started_at

        )

        select
            passes.test_id,
            passes.signature,
            cast(runs.boundary as varchar(64)) as boundary
        from {{ test_scope_table('test_passes') }} as passes
        inner join runs
            on passes.invocation_id = runs.invocation_id
    {%- endset -%}
    {%- set recorded = {} -%}
    {%- for row in run_query(query).rows -%}
        {%- do recorded.update({row[0]: (row[1], row[2])}) -%}
    {%- endfor -%}
    {{ return(recorded) }}
{%- endmacro %}

{#- What a test's verdict depends on besides data: the test's own definition, the code of every
    model, seed and snapshot upstream of it (seeds: their data too), and this invocation's --vars.
    A pass only scopes later runs of the same signature; change any of these and the test reads
    everything again. -#}
{% macro test_scope_signature(test_node) -%}
    {%- set memo = test_scope_memo() -%}
    {%- set key = 'signature:' ~ test_node.unique_id -%}
    {%- if key not in memo -%}
        {%- do memo.update({key: test_scope_signature_of(test_node)}) -%}
    {%- endif -%}
    {{ return(memo[key]) }}
{%- endmacro %}

{% macro test_scope_signature_of(test_node) -%}
    {%- set parts = [test_node.unique_id, (test_node.get('checksum') or {}).get('checksum', ''),
                     (test_node.get('test_metadata') or {}).get('kwargs', {}) | string,
                     (invocation_args_dict or {}).get('vars', '') | string,
                     test_scope_upstream_code(test_node.depends_on.nodes)] -%}
    {{ return(local_md5(parts | join('|'))) }}
{%- endmacro %}

{#- A digest of the code (and seed data) of every model, seed and snapshot upstream of
    `unique_ids` (memoized: the tests of one model share it). -#}
{% macro test_scope_upstream_code(unique_ids) -%}
    {%- set memo = test_scope_memo() -%}
    {%- set key = 'code:' ~ unique_ids | sort | join(',') -%}
    {%- if key not in memo -%}
        {%- set parts = [] -%}
        {%- for unique_id in test_scope_ancestors(unique_ids) if not unique_id.startswith('source.') -%}
            {%- set upstream = graph.nodes.get(unique_id) -%}
            {%- if upstream is not none -%}
                {%- do parts.append(unique_id ~ ':' ~ (upstream.get('checksum') or {}).get('checksum', '')) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do memo.update({key: local_md5(parts | sort | join('|'))}) -%}
    {%- endif -%}
    {{ return(memo[key]) }}
{%- endmacro %}

{#- `unique_ids` and every node and source upstream of them (unique ids). -#}
{% macro test_scope_ancestors(unique_ids) -%}
    {%- set memo = test_scope_memo() -%}
    {%- set key = 'ancestors:' ~ unique_ids | sort | join(',') -%}
    {%- if key in memo -%}
        {{ return(memo[key]) }}
    {%- endif -%}
    {%- set seen = {} -%}
    {%- set queue = [] + unique_ids -%}
    {%- for _ in range(10000) if queue | length > 0 -%}
        {%- set unique_id = queue.pop() -%}
        {%- if unique_id not in seen -%}
            {%- do seen.update({unique_id: true}) -%}
            {%- set upstream = graph.nodes.get(unique_id) -%}
            {%- for parent in (upstream.depends_on.nodes if upstream is not none else []) -%}
                {%- if parent not in seen -%}{%- do queue.append(parent) -%}{%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do memo.update({key: seen.keys() | list}) -%}
    {{ return(memo[key]) }}
{%- endmacro %}

{#- The sources `unique_ids` read, directly or through other models (unique ids). -#}
{% macro test_scope_upstream_sources(unique_ids) -%}
    {%- set memo = test_scope_memo() -%}
    {%- set key = 'sources:' ~ unique_ids | sort | join(',') -%}
    {%- if key not in memo -%}
        {%- set found = [] -%}
        {%- for unique_id in test_scope_ancestors(unique_ids) if unique_id.startswith('source.') -%}
            {%- do found.append(unique_id) -%}
        {%- endfor -%}
        {%- do memo.update({key: found}) -%}
    {%- endif -%}
    {{ return(memo[key]) }}
{%- endmacro %}

{#- Whether any input upstream of `unique_ids` changed after `boundary`: a load of one of their
    sources finished (the ledger: new, replaced or emptied files), or a source row is newer (for
    sources written outside the loader). Each probe is an index range read. -#}
{% macro test_scope_inputs_changed(unique_ids, boundary) -%}
    {%- set memo = test_scope_memo() -%}
    {%- set key = 'inputs_changed:' ~ unique_ids | sort | join(',') ~ ':' ~ boundary -%}
    {%- if key not in memo -%}
        {%- set changed = [] -%}
        {%- for unique_id in test_scope_upstream_sources(unique_ids) if changed | length == 0 -%}
            {%- if test_scope_source_changed(unique_id, boundary) -%}
                {%- do changed.append(unique_id) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do memo.update({key: changed | length > 0}) -%}
    {%- endif -%}
    {{ return(memo[key]) }}
{%- endmacro %}

{#- Whether source `unique_id` changed after `boundary` (memoized for the invocation). -#}
{% macro test_scope_source_changed(unique_id, boundary) -%}
    {%- set memo = test_scope_memo() -%}
    {%- set key = 'changed:' ~ unique_id ~ ':' ~ boundary -%}
    {%- if key in memo -%}
        {{ return(memo[key]) }}
    {%- endif -%}
    {%- set source_node = graph.sources.get(unique_id) -%}
    {%- set column = source_node.get('loaded_at_field') if source_node is not none else none -%}
    {%- set probes = [] -%}
    {%- if column is none -%}
        {%- do memo.update({key: true}) -%}  {#- a source without a load time: cannot tell -#}
        {{ return(true) }}
    {%- endif -%}
    {%- set relation = adapter.get_relation(database=source_node.database, schema=source_node.schema,
                                            identifier=source_node.identifier) -%}
    {%- if relation is not none -%}
        {%- do probes.append('select 1 from ' ~ relation ~ ' where ' ~ adapter.quote(column) ~ ' > ' ~ boundary) -%}
    {%- endif -%}
    {%- set ledger = load_ledger_relation() -%}
    {%- if ledger is not none and source_node.schema == 'raw' -%}
        {%- do probes.append('select 1 from ' ~ ledger ~ " where contract = '" ~ source_node.identifier
                             ~ "' and finished_at > " ~ boundary) -%}
    {%- endif -%}
    {%- set changed = probes | length > 0
        and run_query('select 1 where exists (' ~ probes | join(') or exists (') ~ ')').rows | length > 0 -%}
    {%- do memo.update({key: changed}) -%}
    {{ return(changed) }}
{%- endmacro %}

{#- The nodes the current test reads. -#}
{% macro model_depends_on() -%}
    {{ return(model.depends_on.nodes if model is mapping else []) }}
{%- endmacro %}

{#- True when the current test passed before and none of its inputs changed since: a whole-
    relation test (not_empty, row_count_at_least) can then pass without reading anything. -#}
{% macro test_scope_unchanged() -%}
    {%- set boundary = test_scope_boundary() -%}
    {%- if boundary is none -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(not test_scope_inputs_changed(model.depends_on.nodes, boundary)) }}
{%- endmacro %}

{#- The scoping predicate for graph node `node` in the current (row-level) test, or none: `1 = 0`
    when nothing upstream of it changed since the boundary. -#}
{% macro test_scope_node_predicate(node) -%}
    {%- if test_scope_test_name() not in test_scope_row_level_tests() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set column = test_scope_column(node) -%}
    {%- set boundary = test_scope_boundary() -%}
    {%- if boundary is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if not test_scope_inputs_changed(model.depends_on.nodes, boundary) -%}
        {{ return('1 = 0') }}
    {%- endif -%}
    {%- if column is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.quote(column) ~ ' > ' ~ boundary) }}
{%- endmacro %}

{#- The scoping predicate for `relation` in the current test, or none. -#}
{% macro test_scope_predicate(relation) -%}
    {%- set node = test_scope_node(relation) -%}
    {%- if node is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(test_scope_node_predicate(node)) }}
{%- endmacro %}

{#- Project override of dbt's get_where_subquery (how every generic test reads its model): the
    test's `where` config as in dbt, plus the incremental scope (primary_key, equal_rowcount and
    mutually_exclusive_ranges apply the scope themselves). -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {#- the boundary first: it is memoized, and none (read everything) needs nothing else -#}
    {%- set scope = none if test_scope_boundary() is none
        or test_scope_test_name() in ['primary_key', 'equal_rowcount', 'mutually_exclusive_ranges']
        else test_scope_predicate(relation) -%}
    {%- set predicates = [] -%}
    {%- if where -%}{%- do predicates.append('(' ~ where ~ ')') -%}{%- endif -%}
    {%- if scope -%}{%- do predicates.append(scope) -%}{%- endif -%}
    {%- if predicates | length == 0 -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set filtered -%}
        (select * from {{ relation }} where {{ predicates | join(' and ') }}) dbt_subquery
    {%- endset -%}
    {{ return(filtered) }}
{%- endmacro %}
