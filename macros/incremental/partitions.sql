{#- What changed since an incremental model's previous run (see macros/incremental/run_state.sql),
    for models that recompute whole partitions (regions, months, feeds). Most come in pairs: the
    values as a list (none offline) and the equivalent subquery for offline compiles. The models
    pass the relations to look at; no macro here refs a model. -#}

{#- Whether a load of `contract` finished since this model's previous run (the ingestion ledger):
    for deliveries that can delete rows (the UK change feed) without leaving a row behind. -#}
{% macro contract_loaded_since_previous_run(contract) -%}
    {%- set previous = previous_run_at() -%}
    {%- set ledger = load_ledger_relation() if can_query_now() else none -%}
    {%- if previous is none or ledger is none -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set query -%}
        select 1 from {{ ledger }}
        where contract = {{ string_literal(contract) }} and finished_at > {{ dbt.dateadd('second', -1, previous) }}
    {%- endset -%}
    {{ return(run_query(query).rows | length > 0) }}
{%- endmacro %}

{#- Regions of upstream `relation` (with region_id and dbt_updated_at) recomputed since this
    model's previous run: for models derived region by region. -#}
{% macro changed_regions_query(relation) -%}
    select distinct region_id
    from {{ relation }}
    where {{ updated_since_previous_run() }}
{%- endmacro %}

{% macro changed_regions(relation) -%}
    {{ return(compile_time_values(changed_regions_query(relation))) }}
{%- endmacro %}

{#- Region cutoffs, for the tables derived day by day within a region from the sales
    (int_market_day_totals, feat_avm_sales, int_price_index_cells, int_market_month_sales,
    int_sale_price_day_moments, mart_alerts): the first sale date per region from which rows must
    be recomputed, because a sale changed there since this model's previous run (a comparable sale
    changes every later sale's market features in its region; the index cells of its month change):
    - rows of `sales` recomputed since (new and re-delivered sales, and the window whose outlier
      flags fct_sales re-derives): from their date on, in synthetic regions; a real feed's region
      is recomputed whole (its files span many dates and a corrected file may drop a sale; these
      feeds are small);
    - a UK change-feed delivery (adds, changes, deletes; the ingestion ledger): the UK regions whole.
    `sales` is the model's sales relation (region_id, sale_date, dbt_updated_at) and `regions` the
    regions seed (region_id, source_system); the model passes both, so its ref()s show the lineage.
    Rows are (region_id, cutoff as text). -#}
{% macro feature_cutoffs_query(sales, regions) -%}
    {%- if sales is none or regions is none -%}
        {{ exceptions.raise_compiler_error('feature cutoffs need the sales and regions relations') }}
    {%- endif -%}
    with

    changed_sales as (
        select region_id, sale_date
        from {{ sales }}
        where {{ updated_since_previous_run() }}
    ),

    candidates as (
        select
            changed_sales.region_id,
            case
                when regions.source_system = 'synthetic' then changed_sales.sale_date
                else cast('1900-01-01' as date)
            end as cutoff
        from changed_sales
        left join {{ regions }} as regions
            on changed_sales.region_id = regions.region_id
        {%- if contract_loaded_since_previous_run('uk_land_registry__price_paid') %}
        union all
        select
            region_id,
            cast('1900-01-01' as date) as cutoff
        from {{ regions }}
        where source_system = 'uk_land_registry'
        {%- endif %}
    )

    select
        region_id,
        cast(min(cutoff) as varchar(10)) as cutoff
    from candidates
    where region_id is not null
    group by region_id
{%- endmacro %}

{#- The cutoffs as a list of [region_id, 'YYYY-MM-DD'] pairs, or none offline. -#}
{% macro feature_cutoffs(sales, regions) -%}
    {%- if not can_query_now() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set result = run_query(feature_cutoffs_query(sales, regions)) -%}
    {%- set pairs = [] -%}
    {%- for row in result.rows -%}
        {%- do pairs.append([row[0], row[1]]) -%}
    {%- endfor -%}
    {{ return(pairs) }}
{%- endmacro %}

{#- True for the rows of (region_column, date_column) on or after their region's cutoff; with
    `monthly`, on or after the first day of the cutoff's month (whole months are recomputed).
    Offline (cutoffs none) the cutoffs query of `sales` and `regions` is inlined. -#}
{% macro after_feature_cutoff(cutoffs, region_column, date_column, sales, regions, monthly=false) -%}
    {%- if cutoffs is none -%}
        {%- set earliest = 'cast(min(c.cutoff) as date)' -%}
        {{ return(date_column ~ ' >= (select ' ~ (month_start(earliest) if monthly else earliest) ~ ' from ('
                  ~ feature_cutoffs_query(sales, regions) ~ ') as c where c.region_id = ' ~ region_column ~ ')') }}
    {%- endif -%}
    {%- if cutoffs | length == 0 -%}
        {{ return('1 = 0') }}
    {%- endif -%}
    {%- set terms = [] -%}
    {%- for region_id, cutoff in cutoffs -%}
        {%- set since = cutoff[:8] ~ '01' if monthly else cutoff -%}
        {%- do terms.append('(' ~ region_column ~ ' = ' ~ key_literal(region_id) ~ ' and ' ~ date_column
                            ~ " >= cast('" ~ since ~ "' as date))") -%}
    {%- endfor -%}
    {{ return('(' ~ terms | join(' or ') ~ ')') }}
{%- endmacro %}

{#- Pre-hook of the tables derived by region cutoffs: delete the rows about to be recomputed. -#}
{% macro delete_after_feature_cutoffs(sales, regions, region_column='region_id', date_column='sale_date', monthly=false) -%}
    {%- if not is_incremental() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set cutoffs = feature_cutoffs(sales, regions) -%}
    {%- if cutoffs is not none and cutoffs | length == 0 -%}
        {{ return('') }}
    {%- endif -%}
    delete from {{ this }} where {{ after_feature_cutoff(cutoffs, region_column, date_column, sales, regions, monthly) }}
{%- endmacro %}

{#- The real feeds (not synthetic) in which `relations` (each with source_system and
    dbt_updated_at) changed since this model's previous run, or the UK change feed delivered:
    recomputed whole by the property models (a list of source_system values, or none offline). -#}
{% macro changed_real_sources(relations) -%}
    {%- set parts = [] -%}
    {%- for relation in relations -%}
        {%- do parts.append('select distinct source_system from ' ~ relation
                            ~ " where source_system != 'synthetic' and " ~ updated_since_previous_run()) -%}
    {%- endfor -%}
    {%- set values = compile_time_values(parts | join(' union ')) -%}
    {%- if values is not none and 'uk_land_registry' not in values
        and contract_loaded_since_previous_run('uk_land_registry__price_paid') -%}
        {%- set values = (values + ['uk_land_registry']) | sort -%}
    {%- endif -%}
    {{ return(values) }}
{%- endmacro %}

{#- Pre-hook of a property model: delete the rows of the real feeds recomputed whole (and, with
    `not_residential_from`, the changed properties that are no longer residential there). -#}
{% macro delete_real_sources(relations, not_residential_from=none) -%}
    {%- if not is_incremental() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set sources = changed_real_sources(relations) -%}
    delete from {{ this }}
    where
        {{ in_values('source_system', sources, "select 'none'") }}
        {%- if not_residential_from is not none %}
        or property_id in (
            select property_id from {{ not_residential_from }}
            where not is_residential and {{ updated_since_previous_run() }}
        )
        {%- endif %}
{%- endmacro %}

{#- The first month to recompute, as a SQL date expression: the month of the earliest
    `date_column` among the rows of `relation` (with dbt_updated_at) recomputed since this model's
    previous run, or null when none changed (nothing to recompute); a subquery offline. -#}
{% macro changed_month_start(relation, date_column) -%}
    {%- set query -%}
        select {{ month_start('min(' ~ date_column ~ ')') }}
        from {{ relation }}
        where {{ updated_since_previous_run() }}
    {%- endset -%}
    {%- if not can_query_now() -%}
        {{ return('(' ~ query ~ ')') }}
    {%- endif -%}
    {%- set value = run_query(query).columns[0].values()[0] -%}
    {{ return('cast(null as date)' if value is none else "cast('" ~ value ~ "' as date)") }}
{%- endmacro %}
