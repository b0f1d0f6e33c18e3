"""Scout runs as Arrow tables: pure modules, no I/O, no Dagster.

One job each; import what you need from the module that does it:

- :mod:`.schemas`: column specs (:class:`~.schemas.EntityColumn`,
  :func:`~.schemas.entity_columns`), every table's Arrow schema, the names
  the tables reserve;
- :mod:`.provenance`: :class:`~.provenance.Provenance`, the columns every
  row carries about where it came from;
- :mod:`.ids`: entity, URL and finding ids, derived from the rows, never
  from the run;
- :mod:`.json_reader`: large JSON documents into Arrow as they download
  (or from memory), the big arrays in parallel pieces;
- :mod:`.json_parse`: pyarrow's JSON reader on one part of a document, and
  the checks a cut part must pass;
- :mod:`.findall`: a finished FindAll run body read once
  (:func:`~.findall.read_findall`) into its facts, entities and citations;
- :mod:`.findall_exact`: the Arrow types a FindAll body is read as, and the
  exact Python path for a body that does not fit them;
- :mod:`.search`: a search run's results, sources and findings;
- :mod:`.monitor`: one monitor event's results;
- :mod:`.versions`: a data version of a table, hashed as a stream.
"""

__all__: list[str] = []
