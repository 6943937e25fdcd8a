{#- The physical layout part of a model's config, per warehouse: PostgreSQL indexes, Redshift
    distribution and sort keys. A model states both once and spreads the answer into config():

        {{ config(materialized='table', **platform_config(
            indexes=[{'columns': ['sale_id'], 'unique': true}], dist='sale_id', sort=['sale_date'])) }}

    On PostgreSQL only `indexes` is set, on Redshift only `dist` and `sort` (those given). -#}
{% macro platform_config(indexes=[], dist=none, sort=none) -%}
    {{ return(adapter.dispatch('platform_config', 'terraminer')(indexes, dist, sort)) }}
{%- endmacro %}

{% macro default__platform_config(indexes, dist, sort) -%}
    {{ return({'indexes': indexes}) }}
{%- endmacro %}

{% macro redshift__platform_config(indexes, dist, sort) -%}
    {%- set layout = {} -%}
    {%- if dist is not none -%}{%- do layout.update({'dist': dist}) -%}{%- endif -%}
    {%- if sort is not none -%}{%- do layout.update({'sort': sort}) -%}{%- endif -%}
    {{ return(layout) }}
{%- endmacro %}
