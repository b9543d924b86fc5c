"""Archive analysis for researchers: a folder of scans analysed on Ray (:mod:`.ray_analysis`, the ``[archive]``
extra), the findings folder as tables, one row per scan and per tooth (:mod:`.summary`), and the prevalence of each
finding type with its 95 % interval (:mod:`.prevalence`)."""
