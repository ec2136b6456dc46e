"""Pure helpers shared by the command families, none of them a command and none registering
anything: the one time parser (:mod:`.timeparse`) with its zones and wall clock (:mod:`.zones`)
and lead times and recurrences (:mod:`.recurrence`), the one small-cell rule (:mod:`.smallcell`)
and the one company normalizer and directory (:mod:`.directory`).
"""
