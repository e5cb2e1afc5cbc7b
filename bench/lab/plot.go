package main

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

type xy struct{ X, Y float64 }

// series is one line (or, with points, a set of marked points).
type series struct {
	name   string
	pts    []xy
	points bool
}

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x7f, 0x7f, 0x7f, 0xff},
}

// plotLines draws the series on one plot and saves it as a PNG.
func plotLines(file, title, xlabel, ylabel string, logX bool, ss []series) error {
	return plotWith(file, title, xlabel, ylabel, logX, false, ss)
}

func plotWith(file, title, xlabel, ylabel string, logX, logY bool, ss []series) error {
	p := plot.New()
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	maxY := 0.0
	for _, s := range ss {
		for _, v := range s.pts {
			maxY = max(maxY, v.Y)
		}
	}
	if !logY && maxY > 0 {
		p.Y.Min, p.Y.Max = 0, maxY*1.3 // room for the legend above the data
	}
	for i, s := range ss {
		pts := make(plotter.XYs, len(s.pts))
		for j, v := range s.pts {
			pts[j].X, pts[j].Y = v.X, v.Y
		}
		c := palette[i%len(palette)]
		if s.points {
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return err
			}
			sc.GlyphStyle.Color = c
			sc.GlyphStyle.Radius = vg.Points(5)
			sc.GlyphStyle.Shape = draw.PyramidGlyph{}
			p.Add(sc)
			p.Legend.Add(s.name, sc)
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, sc.Color = c, c
		if len(s.pts) > 60 {
			sc.Radius = 0 // a time series: the line alone
		}
		if i > 0 && len(s.pts) == 2 {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			sc.Radius = 0
		}
		p.Add(l, sc)
		p.Legend.Add(s.name, l, sc)
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, file)
}

// plotLog is plotLines with a logarithmic y axis (values <= 0 dropped).
func plotLog(file, title, xlabel, ylabel string, ss []series) error {
	for i := range ss {
		var pts []xy
		for _, p := range ss[i].pts {
			if p.Y > 0 {
				pts = append(pts, p)
			}
		}
		ss[i].pts = pts
	}
	return plotWith(file, title, xlabel, ylabel, false, true, ss)
}
