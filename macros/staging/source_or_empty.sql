{#- source() that tolerates a raw table which does not exist yet (a feed that has not delivered
    its first file: the loader creates raw.<contract> with the first load). Then the staging model
    selects from an empty, correctly typed stand-in built from the source's declared column
    data_types, so a warehouse with only some feeds still builds end to end. Offline compiles
    (var offline_compile) and unit tests use the plain source(). With `alias`, the result carries
    that alias (`relation as alias`), so the macro can stand in a FROM clause that names it. -#}
{% macro source_or_empty(source_name, table_name, alias=none) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute or var('offline_compile', false) or relation is string
        or relation.schema is none or model.resource_type == 'unit_test' -%}
        {{ return(relation if alias is none else relation ~ ' as ' ~ alias) }}
    {%- endif -%}
    {%- set existing = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) -%}
    {%- if existing is not none -%}
        {{ return(relation if alias is none else relation ~ ' as ' ~ alias) }}
    {%- endif -%}
    {%- set node = graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name] -%}
    {%- set columns = [] -%}
    {%- for column in node.columns.values() -%}
        {%- do columns.append('cast(null as ' ~ (column.data_type or 'varchar(1)') ~ ') as ' ~ column.name) -%}
    {%- endfor -%}
    {{ log('source ' ~ relation ~ ' does not exist yet: ' ~ model.name ~ ' reads an empty stand-in', info=true) }}
    {{ return('(select ' ~ columns | join(', ') ~ ' where 1 = 0) as ' ~ (alias or 'missing_source')) }}
{%- endmacro %}
