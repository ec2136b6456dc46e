"""Pure helpers shared by the command families: the one time parser (:mod:`.timeparse`), the one
small-cell rule (:mod:`.smallcell`) and the one company normalizer/directory (:mod:`.directory`).

None of these is a command and none registers anything; command families import them.
"""
