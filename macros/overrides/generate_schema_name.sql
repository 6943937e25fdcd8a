{#- Custom schemas are used as-is (staging, intermediate, marts, features, reference) on shared
    targets; on `dev` each analyst gets a prefixed set (dev_<user>_marts, ...). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif target.name == 'dev' -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
