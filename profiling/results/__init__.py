"""The run folder and summary.json: layout, schema, typed loading, figures.

`model` holds the typed figures of one run (`RunResult`); `folder` the run folder's
layout and the reading and writing of run.json, rss.csv and summary.json; `record`
parses one run record; `validate` is the typed JSON reading whose errors name the file
and the field; `decompose` splits RSS into parts from the in-process agent's lines
(`RssParts`, `RssBreakdown`, agent.csv); `figures` computes a run's figures from its
probe and load outputs. Pure data and parsing: nothing here starts a process, and of
memdiag's other stages it imports only the probes, to read what they wrote.
"""
