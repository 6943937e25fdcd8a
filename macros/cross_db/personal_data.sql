{#- Personal data stops in staging: names become a keyed hash (HMAC-SHA256) of the normalised
    name, so joins and related-party checks still work downstream while nobody without the key
    can reverse a hash with a name dictionary. The key comes from the secret store (AWS Secrets
    Manager, TERRAMINER_PII_KEY, or the stack's generated secrets/pii_key), never from this
    repository: `terraminer up` / prepare_warehouse stores its two HMAC pads (key XOR ipad/opad,
    so the key itself is never stored) in terraminer_keys.pii_key, a table only the
    transformer may read. No key material ever appears in compiled SQL. -#}
{% macro hash_personal(column) -%}
    case
        when nullif(trim({{ column }}), '') is null then null
        else cast({{ adapter.dispatch('keyed_hash')('upper(trim(' ~ column ~ '))') }} as varchar(64))
    end
{%- endmacro %}

{#- PostgreSQL: exactly HMAC-SHA256(key, value) with the built-in sha256(bytea) (no pgcrypto
    needed): sha256(K^opad || sha256(K^ipad || value)), hex. -#}
{% macro default__keyed_hash(expression) -%}
    encode(sha256((select pads.opad from terraminer_keys.pii_key as pads)
        || sha256((select pads.ipad from terraminer_keys.pii_key as pads) || convert_to({{ expression }}, 'UTF8'))), 'hex')
{%- endmacro %}

{#- Redshift has no HMAC: the same nested keyed construction over the hex pads with SHA2
    (sha2(opad || sha2(ipad || value))); keyed and not reversible by a dictionary, but its digests
    differ from PostgreSQL's. -#}
{% macro redshift__keyed_hash(expression) -%}
    sha2((select pads.opad_hex from terraminer_keys.pii_key as pads)
        || sha2((select pads.ipad_hex from terraminer_keys.pii_key as pads) || {{ expression }}, 256), 256)
{%- endmacro %}

{#- Family name of a "SURNAME, GIVEN" formatted name (upper-cased), for related-party checks. -#}
{% macro surname(column) -%}
    upper(trim({{ dbt.split_part(column, "','", 1) }}))
{%- endmacro %}
