package org.bnnlandmarks.core;

import java.util.List;

/** Face boxes in an image, largest first. */
public interface FaceDetector {
    List<Box> detect(RgbSource image);

    /** The name the spec's detector_calibration uses ("blazeface"). */
    String name();
}
