{#- A deterministic 32-character key from a list of column expressions (nulls are encoded, so
    (a, null) and (null, a) differ). Same text on PostgreSQL and Redshift: md5 of the values. -#}
{% macro surrogate_key(fields) -%}
    {%- set parts = [] -%}
    {%- for field in fields -%}
        {%- do parts.append("coalesce(cast(" ~ field ~ " as varchar(256)), '~null~')") -%}
    {%- endfor -%}
    cast({{ dbt.hash(parts | join(" || '|' || ")) }} as varchar(32))
{%- endmacro %}

{#- A sortable text key of a raw row's delivery position: file key, then line number (zero padded),
    so "delivered earlier" is a single comparison. -#}
{#- The same for "the latest file wins, and within a file the first line": a larger value supersedes. -#}
{% macro supersede_order(relation_alias) -%}
    ({{ relation_alias }}._file_key || '#' || lpad(cast(99999999999999 - {{ relation_alias }}._row_number as varchar(20)), 20, '0'))
{%- endmacro %}

{% macro delivery_order(relation_alias) -%}
    ({{ relation_alias }}._file_key || '#' || lpad(cast({{ relation_alias }}._row_number as varchar(20)), 20, '0'))
{%- endmacro %}
