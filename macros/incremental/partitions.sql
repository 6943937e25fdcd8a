{#- What changed, per incremental model (see macros/incremental/run_state.sql). Most come in pairs: the values
    as a list (none offline) and the equivalent subquery for offline compiles. -#}

{#- Whether a load of `contract` finished since this model's previous run (the ingestion ledger):
    for deliveries that can delete rows (the UK change feed) without leaving a row behind. -#}
{% macro contract_loaded_since_previous_run(contract) -%}
    {%- set previous = previous_run_at() -%}
    {%- set ledger = adapter.get_relation(database=target.database, schema='ingestion_meta', identifier='load_ledger')
        if can_query_now() else none -%}
    {%- if previous is none or ledger is none -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set query -%}
        select 1 from {{ ledger }}
        where contract = '{{ contract }}' and finished_at > {{ dbt.dateadd('second', -1, previous) }}
    {%- endset -%}
    {{ return(run_query(query).rows | length > 0) }}
{%- endmacro %}

{#- Assessor regions with raw rows loaded since int_parcels_versioned's watermark: a roll or
    snapshot is delivered per region, and each region's roll links (its mean assessed value per
    roll year) feed every parcel's reference appraisal, so a region is recomputed whole. -#}
{% macro parcels_changed_regions_query() -%}
    select distinct cast(upper(trim(region_code)) as varchar(8))
    from {{ source_or_empty('assessor', 'parcels') }}
    where _loaded_at > {{ safe_load_watermark() }}
{%- endmacro %}

{% macro parcels_changed_regions() -%}
    {{ return(compile_time_values(parcels_changed_regions_query())) }}
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

{#- Feature, index and price-profile tables (int_market_day_totals, feat_avm_sales,
    int_price_index_cells, int_sale_price_day_moments over int_sales_classified): the
    first sale date per region from which rows must be recomputed, because a sale changed there
    since this model's previous run (a comparable sale changes every later sale's market features
    in its region; the index cells of its month change):
    - fct_sales rows recomputed since (new and re-delivered sales, and the window whose outlier
      flags fct_sales re-derives): from their date on, in synthetic regions; a real feed's region
      is recomputed whole (its files span many dates and a corrected file may drop a sale; these
      feeds are small);
    - a UK change-feed delivery (adds, changes, deletes): the UK regions whole.
    Rows are (region_id, cutoff as text). `sales` is the sales relation whose changes count
    (region_id, sale_date, dbt_updated_at): fct_sales unless given. -#}
{% macro feature_cutoffs_query(sales=none) -%}
    with

    changed_sales as (
        select region_id, sale_date
        from {{ sales if sales is not none else ref('fct_sales') }}
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
        left join {{ ref('regions') }} as regions
            on changed_sales.region_id = regions.region_id
        {%- if contract_loaded_since_previous_run('uk_land_registry__price_paid') %}
        union all
        select
            region_id,
            cast('1900-01-01' as date) as cutoff
        from {{ ref('regions') }}
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
{% macro feature_cutoffs(sales=none) -%}
    {%- if not can_query_now() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set result = run_query(feature_cutoffs_query(sales)) -%}
    {%- set pairs = [] -%}
    {%- for row in result.rows -%}
        {%- do pairs.append([row[0], row[1]]) -%}
    {%- endfor -%}
    {{ return(pairs) }}
{%- endmacro %}

{#- True for the rows of (region_column, date_column) on or after their region's cutoff; with
    `monthly`, on or after the first day of the cutoff's month (whole months are recomputed). -#}
{% macro after_feature_cutoff(cutoffs, region_column, date_column, monthly=false, sales=none) -%}
    {%- if cutoffs is none -%}
        {%- set earliest = 'cast(min(c.cutoff) as date)' -%}
        {{ return(date_column ~ ' >= (select ' ~ (month_start(earliest) if monthly else earliest) ~ ' from ('
                  ~ feature_cutoffs_query(sales) ~ ') as c where c.region_id = ' ~ region_column ~ ')') }}
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

{#- Pre-hook of the feature tables: delete the rows about to be recomputed. -#}
{% macro delete_after_feature_cutoffs(region_column='region_id', date_column='sale_date', monthly=false, sales=none) -%}
    {%- if not is_incremental() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set cutoffs = feature_cutoffs(sales) -%}
    {%- if cutoffs is not none and cutoffs | length == 0 -%}
        {{ return('') }}
    {%- endif -%}
    delete from {{ this }} where {{ after_feature_cutoff(cutoffs, region_column, date_column, monthly, sales) }}
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

{#- Post-hook of snap_properties: close the current version of real-feed properties that are no
    longer in dim_properties. -#}
{% macro snapshot_close_removed_properties() -%}
    update {{ this }}
    set dbt_valid_to = {{ snapshot_get_time() }}
    where
        dbt_valid_to is null
        and source_system != 'synthetic'
        and not exists (
            select 1
            from {{ ref('dim_properties') }} as current_properties
            where current_properties.property_id = {{ this.identifier }}.property_id
        )
{%- endmacro %}

{#- Post-hook of snap_properties (Postgres): a partial index of the current versions of real-feed
    properties, the rows snapshot_close_removed_properties() checks, so that check does not scan
    every current synthetic version. -#}
{% macro snapshot_real_current_index() -%}
    {%- if target.type == 'postgres' -%}
        create index if not exists snap_properties_real_current_idx on {{ this }} (property_id)
        where dbt_valid_to is null and source_system != 'synthetic'
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of mart_alerts: delete the alerts an incremental build recomputes (see the model):
    every market move, the price cuts of the listings recomputed since, the suspicious sales from
    each region's cutoff month on and the fast flips from its cutoff day on. -#}
{% macro delete_recomputed_alerts() -%}
    {%- if not is_incremental() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set cutoffs = feature_cutoffs() -%}
    delete from {{ this }}
    where
        alert_type = 'market_move'
        or (
            alert_type = 'price_cut'
            and subject_id in (select listing_id from {{ ref('fct_listings') }} where {{ updated_since_previous_run() }})
        )
        or (
            alert_type = 'suspicious_sale'
            and {{ after_feature_cutoff(cutoffs, 'region_id', 'detected_for_date', monthly=true) }}
        )
        or (
            alert_type = 'fast_flip'
            and {{ after_feature_cutoff(cutoffs, 'region_id', 'detected_for_date') }}
        )
{%- endmacro %}

{#- int_market_month_listings: the first month to recompute, as a SQL date expression: the month
    of the earliest listed_date among the listings fct_listings recomputed since this model's
    previous run (every month a listing counts in, listed, left inventory or sold, is on or after
    its listed month, before and after the change), or null when none changed (nothing to
    recompute); a subquery offline. -#}
{% macro listing_month_cutoff() -%}
    {%- set query -%}
        select {{ month_start('min(listed_date)') }}
        from {{ ref('fct_listings') }}
        where {{ updated_since_previous_run() }}
    {%- endset -%}
    {%- if not can_query_now() -%}
        {{ return('(' ~ query ~ ')') }}
    {%- endif -%}
    {%- set value = run_query(query).columns[0].values()[0] -%}
    {{ return('cast(null as date)' if value is none else "cast('" ~ value ~ "' as date)") }}
{%- endmacro %}
