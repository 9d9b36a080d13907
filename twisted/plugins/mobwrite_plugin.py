"""Makes ``twistd mobwrite`` available."""

from twisted.application.service import ServiceMaker

mobwrite = ServiceMaker(
    "mobwrite", "mobwrite.daemon.tap", "Real-time text synchronisation (MobWrite).", "mobwrite"
)
